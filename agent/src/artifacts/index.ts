/** Package artifacts: download, verification, content-addressed cache, safe extraction. */
export { ArtifactError, type ArtifactErrorCode } from './errors.ts';
export { ArtifactStore, artifactStoreOptions, parseChecksumFile, type ArtifactRef, type ArtifactStoreOptions, type FetchedArtifact } from './store.ts';
export { downloadToFile, fetchSmallText, networkError, type DownloadOptions, type DownloadProgress, type Downloaded } from './download.ts';
export { archiveFormat, type ArchiveFormat } from './archive-format.ts';
// the extractors themselves (tar, yauzl) are imported from './extract.ts' where needed: the agent runs them in a worker
export { extractInWorker, EXTRACT_WORKER_HEAP_MB, type ExtractRunOptions } from './extract-worker.ts';
export { ArchiveChecker, DEFAULT_MAX_RATIO, RATIO_FLOOR, safeEntryPath, type EntryInfo, type EntryKind, type ExtractLimits } from './entry-check.ts';
export { CatalogError, listPackages, type CatalogEntry } from './catalog.ts';
export { countUnverified, unverifiedCounts } from './unverified.ts';
