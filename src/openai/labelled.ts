/**
 * Finding this deployment's labelled Files and vector stores at OpenAI
 * (./labels.ts): the upload and associate look for the object a dead job
 * created before it could record it (docs/design.md, "Labels, orphans and deadlines"), the
 * orphan sweep and reconcile list them all. OpenAI has no filter on
 * filenames or metadata, so these page through the lists (newest first)
 * and keep the labelled ones.
 */
import type { OpenAI } from './client.ts';
import { classifyOpenAIError } from './errors.ts';
import { type FileLabel, parseFileLabel, parseStoreLabel, type StoreLabel } from './labels.ts';

/**
 * Files per list page: the most OpenAI allows (docs/openai-facts.md,
 * "Files": limit 1..10000), so a deployment with ten thousand Files is one request.
 */
const FILE_PAGE = 10_000;
/** Vector stores per list page: the most the spec allows (`ListVectorStores`: limit 1..100). */
const STORE_PAGE = 100;

/**
 * How far before a dead job's claim its object may have been created by
 * OpenAI's clock, ms: the registry's clock and OpenAI's disagree by less
 * than this (NTP keeps them within a second; ten minutes is a wide margin
 * that costs only a longer list).
 */
export const CLOCK_SKEW_MS = 10 * 60_000;

/** A labelled File as listed. */
export interface LabelledFile {
  id: string;
  /** Unix seconds (OpenAI's clock). */
  createdAt: number;
  bytes: number;
  label: FileLabel;
}

/** A labelled vector store as listed. */
export interface LabelledStore {
  id: string;
  /** Unix seconds (OpenAI's clock). */
  createdAt: number;
  status: string;
  label: StoreLabel;
}

/**
 * This deployment's labelled Files of purpose `assistants`, newest first,
 * down to those created at `sinceSeconds` (default: all).
 * @throws the classified OpenAI error (src/openai/errors.ts)
 */
export async function* labelledFiles(
  openai: OpenAI,
  deployment: string,
  sinceSeconds = 0,
): AsyncGenerator<LabelledFile> {
  try {
    for await (const f of openai.files.list({ purpose: 'assistants', order: 'desc', limit: FILE_PAGE })) {
      if (f.created_at < sinceSeconds) return;
      const label = parseFileLabel(f.filename);
      if (label?.deployment === deployment) yield { id: f.id, createdAt: f.created_at, bytes: f.bytes, label };
    }
  } catch (err) {
    throw classifyOpenAIError(err);
  }
}

/**
 * This deployment's labelled vector stores, newest first, down to those
 * created at `sinceSeconds` (default: all).
 * @throws the classified OpenAI error
 */
export async function* labelledStores(
  openai: OpenAI,
  deployment: string,
  sinceSeconds = 0,
): AsyncGenerator<LabelledStore> {
  try {
    for await (const s of openai.vectorStores.list({ order: 'desc', limit: STORE_PAGE })) {
      if (s.created_at < sinceSeconds) return;
      const label = parseStoreLabel(s.metadata);
      if (label?.deployment === deployment) yield { id: s.id, createdAt: s.created_at, status: s.status, label };
    }
  } catch (err) {
    throw classifyOpenAIError(err);
  }
}

/**
 * The newest labelled File of this deployment with `contentHash` created
 * since `since` (less {@link CLOCK_SKEW_MS}), e.g. by an upload that died
 * before recording it.
 */
export async function findLabelledFile(
  openai: OpenAI,
  deployment: string,
  contentHash: string,
  since: Date,
): Promise<LabelledFile | undefined> {
  const sinceSeconds = Math.floor((since.getTime() - CLOCK_SKEW_MS) / 1000);
  for await (const f of labelledFiles(openai, deployment, sinceSeconds))
    if (f.label.contentHash === contentHash) return f;
  return undefined;
}

/**
 * The newest live labelled store of this deployment for `filesetHash`
 * created since `since` (less {@link CLOCK_SKEW_MS}), e.g. by an associate
 * that died before recording it.
 */
export async function findLabelledStore(
  openai: OpenAI,
  deployment: string,
  filesetHash: string,
  since: Date,
): Promise<LabelledStore | undefined> {
  const sinceSeconds = Math.floor((since.getTime() - CLOCK_SKEW_MS) / 1000);
  for await (const s of labelledStores(openai, deployment, sinceSeconds))
    if (s.label.filesetHash === filesetHash && s.status !== 'expired') return s;
  return undefined;
}
