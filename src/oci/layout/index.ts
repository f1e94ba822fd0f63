/** OCI image layouts and docker-save archives in and out of the store. */
export { importImages, CONTAINERD_NAME_ANNOTATION, type ImportOptions, type ImportResult, type ImportedImage } from './import.js';
export { exportImages, type ExportOptions, type ExportResult, type ExportedImage } from './export.js';
export { openArchive, dirSource, tarSource, type ArchiveSource } from './source.js';
