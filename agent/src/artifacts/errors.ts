/** Typed failures of package download, verification and extraction. */

/** Why an artifact could not be provided. */
export type ArtifactErrorCode =
  | 'NOT_FOUND' // the artifact (or a required file) does not exist at the URL
  | 'CHECKSUM_MISMATCH' // the bytes do not match the repository's .sha256
  | 'CHECKSUM_MISSING' // no .sha256 next to the artifact while one is required
  | 'UNSAFE_ENTRY' // an archive entry would land outside the extraction folder, or is a device/FIFO
  | 'TOO_LARGE' // download, extracted size or entry count past the configured bound
  | 'TIMEOUT' // connect, response headers, body or overall deadline exceeded
  | 'UNREACHABLE' // connection refused, DNS failure, reset, unexpected HTTP status
  | 'BAD_ARCHIVE' // unreadable archive (not gzip/tar/zip, truncated, unsupported suffix)
  | 'MISSING_TOPDIR'; // the archive lacks the `<artifact up to first '.'>` directory

/** An artifact failure with its code and the URL it concerns. */
export class ArtifactError extends Error {
  readonly code: ArtifactErrorCode;
  readonly url: string;
  constructor(code: ArtifactErrorCode, url: string, message: string, options?: { cause?: unknown }) {
    super(`${code}: ${message} (${url})`, options);
    this.name = 'ArtifactError';
    this.code = code;
    this.url = url;
  }
}
