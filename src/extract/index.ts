import { extractHtml } from './html.ts';
import { extractMarkdown, extractText } from './markdown.ts';
import type { DocumentKind, ExtractedDocument } from './types.ts';

export { extractHtml } from './html.ts';
export { extractMarkdown, extractText } from './markdown.ts';
export type { DocumentKind, ExtractedDocument, Section } from './types.ts';

/**
 * Extracts a document of any supported kind.
 * @param title a title that wins over the document's own
 * @param fallbackTitle the title when the document has none (default: the last segment of the URI)
 */
export function extractDocument(
  kind: DocumentKind,
  text: string,
  uri: string,
  title?: string,
  fallbackTitle?: string,
): ExtractedDocument {
  switch (kind) {
    case 'html': {
      const doc = extractHtml(text, uri, fallbackTitle);
      return title !== undefined ? { ...doc, title } : doc;
    }
    case 'markdown':
      return extractMarkdown(text, uri, title, fallbackTitle);
    case 'text':
      return extractText(text, uri, title ?? fallbackTitle);
  }
}
