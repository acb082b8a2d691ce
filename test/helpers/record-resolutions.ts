/**
 * Module-resolution recorder for a child process: preload it with
 * `node --import <file URL of this file>` and set RECORD_RESOLUTIONS_TO to a
 * file path; every module the process resolves (static and dynamic imports,
 * require) is appended there as `specifier<TAB>resolved URL`, one a line.
 * Node 24's synchronous in-thread hooks (`module.registerHooks`), so the
 * lines are written before the module loads.
 */
import { appendFileSync } from 'node:fs';
import { registerHooks } from 'node:module';

const target = process.env.RECORD_RESOLUTIONS_TO;
if (!target) throw new Error('record-resolutions: set RECORD_RESOLUTIONS_TO to the file to append to');

registerHooks({
  resolve(specifier, context, nextResolve) {
    const resolved = nextResolve(specifier, context);
    appendFileSync(target, `${specifier}\t${resolved.url}\n`);
    return resolved;
  },
});
