/** Archive formats by file-name suffix (as l3afd decides); apart from the extractors so that naming a format loads no archive library. */
export type ArchiveFormat = 'tar.gz' | 'zip';

/** The format of an artifact file name, or undefined for unsupported suffixes. */
export function archiveFormat(artifact: string): ArchiveFormat | undefined {
  if (artifact.endsWith('.tar.gz')) return 'tar.gz';
  if (artifact.endsWith('.zip')) return 'zip';
  return undefined;
}
