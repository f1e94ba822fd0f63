import type { ResolvedPackage } from '../debian/apt.js';

/** Where each image carries its SBOM, and the manifest annotations pointing at it. */
export const SBOM_DIR = 'usr/share/sbom';
export const SBOM_PATH_ANNOTATION = 'dev.coracle.sbom.path';
export const SBOM_DIGEST_ANNOTATION = 'dev.coracle.sbom.digest';

export interface SbomInput {
  image: string;
  /** Full reference the image is stored under. */
  ref: string;
  tag: string;
  packages: ResolvedPackage[];
  /** SOURCE_DATE_EPOCH, so the document is reproducible. */
  created: number;
  /** Debian release the packages came from, for the purl `distro` qualifier. */
  distro?: string;
  toolVersion: string;
}

function spdxId(s: string): string {
  return s.replace(/[^A-Za-z0-9.-]/g, '-');
}

/** SPDX 2.3 JSON document: the image, and each Debian package it was made from. */
export function spdxDocument(i: SbomInput): Record<string, unknown> {
  const imageId = `SPDXRef-Image-${spdxId(i.image)}`;
  const packages = i.packages.map((p) => ({
    name: p.name,
    SPDXID: `SPDXRef-Package-deb-${spdxId(p.name)}`,
    versionInfo: p.version,
    supplier: 'Organization: Debian',
    downloadLocation: 'NOASSERTION',
    filesAnalyzed: false,
    licenseConcluded: 'NOASSERTION',
    licenseDeclared: 'NOASSERTION',
    copyrightText: 'NOASSERTION',
    externalRefs: [
      {
        referenceCategory: 'PACKAGE-MANAGER',
        referenceType: 'purl',
        referenceLocator: `pkg:deb/debian/${encodeURIComponent(p.name)}@${encodeURIComponent(p.version)}?arch=${p.architecture}${i.distro ? `&distro=${i.distro}` : ''}`,
      },
    ],
  }));
  return {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: i.ref,
    documentNamespace: `https://coracle.invalid/spdx/${encodeURIComponent(i.image)}/${i.tag}`,
    creationInfo: { created: new Date(i.created * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'), creators: [`Tool: coracle-${i.toolVersion}`] },
    packages: [
      {
        name: i.image,
        SPDXID: imageId,
        versionInfo: i.tag,
        downloadLocation: 'NOASSERTION',
        filesAnalyzed: false,
        licenseConcluded: 'NOASSERTION',
        licenseDeclared: 'NOASSERTION',
        copyrightText: 'NOASSERTION',
        primaryPackagePurpose: 'CONTAINER',
      },
      ...packages,
    ],
    relationships: [
      { spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: imageId },
      ...packages.map((p) => ({ spdxElementId: imageId, relationshipType: 'CONTAINS', relatedSpdxElement: p.SPDXID })),
    ],
  };
}
