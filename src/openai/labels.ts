/**
 * Labels that name the deployment on every File and vector store Sluice
 * creates (docs/design.md, "Labels, orphans and deadlines"), so that two
 * deployments in one OpenAI organisation (staging and production) never
 * touch each other's objects, and so that an object Sluice created but did
 * not record (a crash between the create and the registry write) can be
 * found again: reused, or deleted by the orphan sweep.
 *
 * - A File has no metadata (spec `CreateFileRequest`: `file`, `purpose`,
 *   `expires_after`), so its filename carries the label:
 *   `sluice.<deployment>.<content hash>.<name>`. The original name stays
 *   last: its extension decides how OpenAI parses the file.
 * - A vector store carries metadata `sluice_deployment`, `sluice_fileset`
 *   and `sluice_collection` (docs/openai-facts.md, "Vector stores": ≤ 16
 *   pairs; keys ≤ 64 and values ≤ 512 characters), and a name that says the same.
 */

/** A deployment id: letters, digits, `_` and `-` (no `.`, which separates the parts of a File label), ≤ 40. */
export const DEPLOYMENT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$/;

/** First part of every File label. */
const FILE_PREFIX = 'sluice';
const FILE_LABEL = /^sluice\.([A-Za-z0-9][A-Za-z0-9_-]{0,39})\.([0-9a-f]{64})\.(.+)$/s;

/** Metadata keys of a vector store's label. */
export const STORE_LABEL_KEYS = Object.freeze({
  deployment: 'sluice_deployment',
  fileset: 'sluice_fileset',
  collection: 'sluice_collection',
} as const);

/** Longest metadata value (docs/openai-facts.md, "Vector stores"), characters. */
const METADATA_VALUE_MAX = 512;

/** What a File label says. */
export interface FileLabel {
  deployment: string;
  /** SHA-256 hex of the File's content, as the registry keys it. */
  contentHash: string;
  /** The name the File had before labelling. */
  filename: string;
}

/** What a vector store label says. */
export interface StoreLabel {
  deployment: string;
  /** Absent on a labelled store Sluice did not create from a fileset. */
  filesetHash: string | undefined;
  collection: string | undefined;
}

/**
 * The labelled filename of a File.
 * @throws Error for a deployment id outside {@link DEPLOYMENT_ID_PATTERN} or a content hash that is not SHA-256 hex
 */
export function labelFilename(deployment: string, contentHash: string, filename: string): string {
  if (!DEPLOYMENT_ID_PATTERN.test(deployment)) throw new Error(`invalid deployment id "${deployment}"`);
  if (!/^[0-9a-f]{64}$/.test(contentHash)) throw new Error(`invalid content hash "${contentHash}"`);
  return `${FILE_PREFIX}.${deployment}.${contentHash}.${filename}`;
}

/** Reads a File label. @returns undefined when the filename carries none */
export function parseFileLabel(filename: string): FileLabel | undefined {
  const m = FILE_LABEL.exec(filename);
  return m ? { deployment: m[1]!, contentHash: m[2]!, filename: m[3]! } : undefined;
}

/** The metadata of a store Sluice creates for a fileset. */
export function storeMetadata(deployment: string, filesetHash: string, collection: string): Record<string, string> {
  return {
    [STORE_LABEL_KEYS.deployment]: deployment,
    [STORE_LABEL_KEYS.fileset]: filesetHash.slice(0, METADATA_VALUE_MAX),
    [STORE_LABEL_KEYS.collection]: collection.slice(0, METADATA_VALUE_MAX),
  };
}

/** The name of a store Sluice creates for a fileset (for people reading OpenAI's dashboard). */
export function storeName(deployment: string, filesetHash: string, collection: string): string {
  return `sluice ${deployment} ${collection} ${filesetHash.slice(0, 12)}`;
}

/** Reads a store label from its metadata. @returns undefined when it carries none */
export function parseStoreLabel(metadata: unknown): StoreLabel | undefined {
  if (typeof metadata !== 'object' || metadata === null) return undefined;
  const m = metadata as Record<string, unknown>;
  const deployment = m[STORE_LABEL_KEYS.deployment];
  if (typeof deployment !== 'string' || !DEPLOYMENT_ID_PATTERN.test(deployment)) return undefined;
  const fileset = m[STORE_LABEL_KEYS.fileset];
  const collection = m[STORE_LABEL_KEYS.collection];
  return {
    deployment,
    filesetHash: typeof fileset === 'string' && /^[0-9a-f]{64}$/.test(fileset) ? fileset : undefined,
    collection: typeof collection === 'string' ? collection : undefined,
  };
}
