/**
 * Deletion sync's guards as a table: counts and flags in, decision out
 * (src/ingest/deletion-sync.ts, docs/design.md, "Deletion sync").
 */
import { describe, expect, it } from 'vitest';
import {
  type DeletionFacts,
  decideDeletion,
  inScope,
  transientFailuresInScope,
} from '../../src/ingest/deletion-sync.ts';
import type { RunFailure } from '../../src/runs/tracker.ts';

const BASE: DeletionFacts = {
  candidates: 3,
  scopeDocuments: 150,
  transientFailures: 0,
  refusedPages: 0,
  depthTruncated: 0,
  maxDeleteFraction: 0.2,
  allowMassDelete: false,
};

describe('decideDeletion', () => {
  it.each<[string, Partial<DeletionFacts>, 'nothing' | 'delete' | string]>([
    ['nothing unreached', { candidates: 0 }, 'nothing'],
    ['nothing unreached, even on an outage', { candidates: 0, transientFailures: 5, refusedPages: 9 }, 'nothing'],
    ['2% unreached', {}, 'delete'],
    ['exactly the fraction', { candidates: 30 }, 'delete'],
    ['just over the fraction', { candidates: 31 }, 'mass_delete'],
    ['half the scope', { candidates: 75 }, 'mass_delete'],
    ['half the scope, allowed', { candidates: 75, allowMassDelete: true }, 'delete'],
    ['the whole scope, allowed', { candidates: 150, allowMassDelete: true }, 'delete'],
    ['fraction 0 holds any deletion', { maxDeleteFraction: 0 }, 'mass_delete'],
    ['fraction 1 never holds on share', { candidates: 150, maxDeleteFraction: 1 }, 'delete'],
    ['an empty scope before the run counts as 100%', { candidates: 1, scopeDocuments: 0 }, 'mass_delete'],
    ['a transient failure', { transientFailures: 1 }, 'transient_failures'],
    ['a transient failure, mass delete allowed', { transientFailures: 1, allowMassDelete: true }, 'transient_failures'],
    ['transient failures come before truncation', { transientFailures: 2, refusedPages: 4 }, 'transient_failures'],
    ['transient failures come before the fraction', { transientFailures: 2, candidates: 100 }, 'transient_failures'],
    ['the page limit refused pages', { refusedPages: 1 }, 'truncated'],
    ['the depth limit cut links', { depthTruncated: 7 }, 'truncated'],
    ['truncated, mass delete allowed', { refusedPages: 1, allowMassDelete: true }, 'truncated'],
    ['truncation comes before the fraction', { depthTruncated: 1, candidates: 100 }, 'truncated'],
  ])('%s', (_, facts, expected) => {
    const d = decideDeletion({ ...BASE, ...facts });
    if (expected === 'nothing' || expected === 'delete') {
      expect(d.action).toBe(expected);
      return;
    }
    expect(d.action).toBe('hold');
    if (d.action !== 'hold') return;
    const f = { ...BASE, ...facts };
    expect(d.held).toMatchObject({ reason: expected, candidates: f.candidates, scopeDocuments: f.scopeDocuments });
    expect(d.held.message).toContain(`${f.candidates} of ${f.scopeDocuments}`);
    if (expected === 'mass_delete') expect(d.held.message).toMatch(/run again with\s+--allow-mass-delete/);
    else expect(d.held.message).toContain('--allow-mass-delete (allowMassDelete) does not override this');
  });
});

describe('scopes and failures', () => {
  it('a directory scope is a prefix, a file scope is exact', () => {
    expect(inScope('http://h/docs/a.html', 'http://h/docs/')).toBe(true);
    expect(inScope('http://h/docsx/a.html', 'http://h/docs/')).toBe(false);
    expect(inScope('file:///srv/d', 'file:///srv/d/')).toBe(true);
    expect(inScope('file:///srv/a.md', 'file:///srv/a.md')).toBe(true);
    expect(inScope('file:///srv/a.md.bak', 'file:///srv/a.md')).toBe(false);
  });

  it('counts transient crawl failures in scope, and failures of unknown source; not 404s nor embed jobs', () => {
    const f = (over: Partial<RunFailure>): RunFailure => ({
      source: 'http://h/docs/a.html',
      error: 'x',
      queue: 'crawl',
      jobId: 'j',
      transient: true,
      ...over,
    });
    const scopes = ['http://h/docs/', 'file:///srv/notes/'];
    expect(
      transientFailuresInScope(
        [
          f({}), // a 5xx that used its attempts: counts
          f({ transient: false }), // a 404: not reached, not an outage
          f({ source: 'http://h/elsewhere/b.html' }), // outside every scope
          f({ queue: 'embed' }), // the document was reached; its embedding failed
          f({ source: '/srv/notes/c.md' }), // a path: its file:// URI is in scope
          f({ source: 'crawl job crawl-1-abc', transient: undefined }), // failed behind the processor's back
        ],
        scopes,
      ),
    ).toBe(3);
  });
});
