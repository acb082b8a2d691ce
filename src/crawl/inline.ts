/**
 * Inline documents: text handed over by the producer instead of a URL.
 */
import { z } from 'zod';
import { extractDocument } from '../extract/index.ts';
import type { DocumentKind, ExtractedDocument } from '../extract/types.ts';

export const InlineDocumentSchema = z
  .object({
    id: z.string().trim().min(1, 'id must be a non-empty string'),
    text: z.string().optional(),
    html: z.string().optional(),
    markdown: z.string().optional(),
    title: z.string().optional(),
    metadata: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
  })
  .strict()
  .superRefine((doc, ctx) => {
    const given = (['text', 'html', 'markdown'] as const).filter((k) => doc[k] !== undefined);
    if (given.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message:
          given.length === 0
            ? 'exactly one of text, html or markdown is required (none given)'
            : `exactly one of text, html or markdown is allowed (got ${given.join(' and ')})`,
        path: given.length === 0 ? [] : [given[1]!],
      });
      return;
    }
    const body = doc[given[0]!]!;
    if (body.includes('\u0000')) {
      // Postgres text cannot hold U+0000.
      ctx.addIssue({ code: 'custom', message: `${given[0]} contains NUL characters (U+0000)`, path: [given[0]!] });
    }
    if (body.trim() === '') {
      ctx.addIssue({ code: 'custom', message: `${given[0]} is empty: there is nothing to index`, path: [given[0]!] });
    }
  });

export type InlineDocument = z.infer<typeof InlineDocumentSchema>;

/** The URI of an inline document: `inline:<id>`. */
export function inlineUri(doc: Pick<InlineDocument, 'id'>): string {
  return `inline:${doc.id}`;
}

/** The kind and body of an inline document. */
export function inlineBody(doc: InlineDocument): { kind: DocumentKind; text: string } {
  if (doc.html !== undefined) return { kind: 'html', text: doc.html };
  if (doc.markdown !== undefined) return { kind: 'markdown', text: doc.markdown };
  return { kind: 'text', text: doc.text ?? '' };
}

/** Extracts an inline document; the title is the given one, else the document's own, else the id. */
export function extractInline(doc: InlineDocument): ExtractedDocument {
  const { kind, text } = inlineBody(doc);
  return extractDocument(kind, text, inlineUri(doc), doc.title, doc.id);
}
