import { extractHtml } from './html.ts';
import { extractMarkdown, extractText } from './markdown.ts';
import type { DocumentKind, ExtractedDocument } from './types.ts';

export { extractHtml } from './html.ts';
export { extractMarkdown, extractText } from './markdown.ts';
export type { DocumentKind, ExtractedDocument, Section } from './types.ts';

/** Extracts a document of any supported kind. */
export function extractDocument(kind: DocumentKind, text: string, uri: string, title?: string): ExtractedDocument {
  switch (kind) {
    case 'html': {
      const doc = extractHtml(text, uri);
      return title ? { ...doc, title } : doc;
    }
    case 'markdown':
      return extractMarkdown(text, uri, title);
    case 'text':
      return extractText(text, uri, title);
  }
}
