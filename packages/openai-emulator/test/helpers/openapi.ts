/**
 * Validates data against a schema of OpenAI's published OpenAPI 3.1 spec
 * (a copy of the design card's `../shared/openai/openapi.yaml`, kept in
 * this package as `test/fixtures/openai/openapi.yaml` — in the repo,
 * `packages/openai-emulator/test/fixtures/openai/openapi.yaml` — so a clone
 * anywhere can run the tests; `docs/openai-facts.md`: validate against the
 * spec's schemas, not its examples).
 *
 * The spec is parsed once; all of `components.schemas` is registered with
 * Ajv (JSON Schema 2020-12, which OpenAPI 3.1 schemas are) as one document,
 * so `$ref: '#/components/schemas/X'` resolves. Usable for any schema name:
 * `validateSchema('CreateEmbeddingResponse', body)`, `validateSchema('OpenAIFile', f)`.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { parse } from 'yaml';

/** `packages/openai-emulator`. */
const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The Sluice repository the package lives in. */
const repoRoot = path.resolve(packageRoot, '../..');

/** The spec the tests validate against: the package's copy. */
export const OPENAPI_SPEC_PATH = path.resolve(packageRoot, 'test/fixtures/openai/openapi.yaml');

/**
 * The design card's spec beside the repo root, when this checkout sits
 * there: `test/unit/openapi-copy.test.ts` (in this package) checks the copy
 * has not drifted.
 */
export const SHARED_OPENAPI_SPEC_PATH = path.resolve(repoRoot, '../shared/openai/openapi.yaml');

/** `$id` under which the schemas are registered. */
const DOC_ID = 'https://sluice.invalid/openai/openapi.json';

/**
 * OpenAPI and OpenAI vocabulary that is not JSON Schema: annotations only,
 * declared so Ajv neither fails nor warns on them.
 */
const ANNOTATION_KEYWORDS = [
  'discriminator',
  'example',
  'examples',
  'externalDocs',
  'xml',
  'x-oaiMeta',
  'x-oaiTypeLabel',
  'x-oaiExpandable',
  'x-stainless-const',
  'x-stainless-naming',
  'x-stainless-go-variant-constructor',
];

/** OpenAPI `format`s Ajv does not know; accepted without checking. */
const OPENAPI_FORMATS = ['int32', 'int64', 'float', 'double', 'byte', 'binary', 'password'];

interface Spec {
  components: { schemas: Record<string, unknown> };
}

let ajv: Ajv2020 | undefined;
let schemaNames: Set<string> | undefined;
const validators = new Map<string, ValidateFunction>();

function load(): Ajv2020 {
  if (ajv) return ajv;
  const spec = parse(readFileSync(OPENAPI_SPEC_PATH, 'utf8')) as Spec;
  const schemas = spec.components.schemas;
  schemaNames = new Set(Object.keys(schemas));
  const instance = new Ajv2020({ strict: false, allErrors: true, validateSchema: false, logger: false });
  // ajv-formats is CommonJS; under ESM its default export may be wrapped.
  const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (
    a: Ajv2020,
  ) => void;
  addFormats(instance);
  for (const f of OPENAPI_FORMATS) instance.addFormat(f, true);
  // Any other `x-*` extension keyword found in the spec too; skip ones Ajv already knows.
  for (const k of new Set([...ANNOTATION_KEYWORDS, ...collectExtensionKeywords(schemas)])) {
    addAnnotationKeyword(instance, k);
  }
  instance.addSchema({ $id: DOC_ID, components: { schemas: upgradeLegacyKeywords(schemas) } });
  ajv = instance;
  return instance;
}

/**
 * A few schemas still carry OpenAPI 3.0 keywords, rewritten in place with the
 * meaning they had in 3.0:
 * - boolean `exclusiveMinimum` / `exclusiveMaximum` (modifiers of `minimum` /
 *   `maximum`): 2020-12 wants the bound itself;
 * - `nullable` without a sibling `type` (Ajv's 3.0 support rejects it; with no
 *   type, null is allowed anyway): dropped. With a `type`, Ajv adds `null`.
 */
function upgradeLegacyKeywords<T>(node: T): T {
  if (Array.isArray(node)) for (const item of node) upgradeLegacyKeywords(item);
  else if (node && typeof node === 'object') {
    const o = node as Record<string, unknown>;
    for (const [flag, bound] of [
      ['exclusiveMinimum', 'minimum'],
      ['exclusiveMaximum', 'maximum'],
    ] as const) {
      if (typeof o[flag] !== 'boolean') continue;
      if (o[flag] === true && typeof o[bound] === 'number') {
        o[flag] = o[bound];
        delete o[bound];
      } else delete o[flag];
    }
    if ('nullable' in o && o['type'] === undefined) delete o['nullable'];
    for (const value of Object.values(o)) upgradeLegacyKeywords(value);
  }
  return node;
}

/** Declares `keyword` as annotation-only, unless Ajv already knows it (e.g. `examples`). */
function addAnnotationKeyword(instance: Ajv2020, keyword: string): void {
  try {
    instance.addKeyword(keyword);
  } catch {
    // already a known keyword: nothing to declare
  }
}

function collectExtensionKeywords(node: unknown, found = new Set<string>()): Set<string> {
  if (Array.isArray(node)) for (const item of node) collectExtensionKeywords(item, found);
  else if (node && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if (key.startsWith('x-')) found.add(key);
      collectExtensionKeywords(value, found);
    }
  }
  return found;
}

function validatorFor(name: string): ValidateFunction {
  const cached = validators.get(name);
  if (cached) return cached;
  const instance = load();
  if (!schemaNames?.has(name)) throw new Error(`no schema named ${JSON.stringify(name)} in components.schemas`);
  const pointer = name.replace(/~/g, '~0').replace(/\//g, '~1');
  const validate = instance.getSchema(`${DOC_ID}#/components/schemas/${pointer}`);
  if (!validate) throw new Error(`could not compile schema ${name}`);
  validators.set(name, validate);
  return validate;
}

function describe(errors: readonly ErrorObject[]): string {
  return errors
    .slice(0, 20)
    .map((e) => `  ${e.instancePath || '(root)'} ${e.message ?? ''} ${JSON.stringify(e.params)} [${e.schemaPath}]`)
    .join('\n');
}

/**
 * Throws unless `data` is valid against `components.schemas[name]`.
 * @throws Error listing Ajv's errors (at most 20)
 */
export function validateSchema(name: string, data: unknown): void {
  const validate = validatorFor(name);
  if (!validate(data)) {
    throw new Error(`does not match schema ${name}:\n${describe(validate.errors ?? [])}`);
  }
}

/** Names of all schemas in the spec (e.g. to check one exists). */
export function specSchemaNames(): string[] {
  load();
  return [...(schemaNames ?? [])];
}
