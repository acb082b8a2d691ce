/**
 * Lua scripts as ioredis commands. Each script lives in its own `.lua` file
 * beside the code that uses it (`src/<concern>/lua/`), opening with a
 * header that names every KEYS and ARGV it reads, as BullMQ keeps its
 * `src/commands/*.lua`; the file name ends in the number of keys
 * (`reserve-3.lua`), or has none when the script takes any number of keys
 * (`claim.lua`: the caller passes the key count first).
 *
 * A file is read once, when its module defines it (`defineScript`), and the
 * script is registered on a client with ioredis `defineCommand` at its first
 * run on that client. ioredis (5.x) then sends the body (EVAL) only the first time
 * the script runs on a connection, and its SHA1 (EVALSHA) from then on; a
 * NOSCRIPT reply (Redis restarted or its script cache flushed) makes it send
 * the body again, once. Sending the body with every EVAL (as before) cost
 * bandwidth and a SHA1 of the body on the server for every call, e.g. for
 * every reservation of the shared budget.
 *
 * Here, beside `redis.ts`, because every caller already gets its client type
 * from there, and the loader knows nothing of budgets or claims.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Redis } from './redis.ts';

/** An argument as ioredis sends it. */
export type ScriptArg = string | number;

/** A script defined from a `.lua` file; `run` registers it on the client at its first use there. */
export interface LuaScript<Keys extends readonly string[], Args extends readonly ScriptArg[], Reply> {
  /** The ioredis command name (unique per process). */
  readonly name: string;
  /** The file it was read from. */
  readonly path: string;
  /** Keys it takes, from the file name; `undefined`: any number. */
  readonly numberOfKeys: number | undefined;
  readonly lua: string;
  /** Runs the script (EVALSHA once it is loaded on the connection). */
  run(redis: Redis, keys: Keys, args: Args): Promise<Reply>;
}

/** Command names defined so far, with their files: a name means one script. */
const names = new Map<string, string>();

/**
 * Reads a script file and defines it under `name`.
 * @param name ioredis command name; must not be a Redis command (prefix it, e.g. `sluiceBudgetReserve`).
 * @param file the `.lua` file: `new URL('./lua/x-2.lua', import.meta.url)`.
 * @typeParam Reply what the script returns, as ioredis decodes it.
 */
export function defineScript<
  Reply,
  Keys extends readonly string[] = string[],
  Args extends readonly ScriptArg[] = string[],
>(name: string, file: URL): LuaScript<Keys, Args, Reply> {
  const path = fileURLToPath(file);
  const known = names.get(name);
  if (known !== undefined && known !== path)
    throw new Error(`Lua script name ${name} is used for both ${known} and ${path}`);
  names.set(name, path);
  const lua = readFileSync(file, 'utf8');
  const n = /-(\d+)\.lua$/.exec(path);
  const numberOfKeys = n ? Number(n[1]) : undefined;
  /** Clients the command is defined on. */
  const defined = new WeakSet<Redis>();
  return {
    name,
    path,
    numberOfKeys,
    lua,
    run(redis, keys, args) {
      if (numberOfKeys !== undefined && keys.length !== numberOfKeys) {
        return Promise.reject(new Error(`${name} takes ${numberOfKeys} keys, got ${keys.length}`));
      }
      if (!defined.has(redis)) {
        redis.defineCommand(name, numberOfKeys === undefined ? { lua } : { numberOfKeys, lua });
        defined.add(redis);
      }
      const command = (redis as unknown as Record<string, (...a: ScriptArg[]) => Promise<Reply>>)[name]!;
      return numberOfKeys === undefined
        ? command.call(redis, keys.length, ...keys, ...args)
        : command.call(redis, ...keys, ...args);
    },
  };
}
