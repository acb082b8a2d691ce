/** One heading-bounded part of a document. */
export interface Section {
  /** The stack of heading texts above and including this section's heading; [] before the first heading. */
  headingPath: string[];
  /** An id (or `<a name>`) that really exists in the page and points at this section; null when there is none. */
  anchor: string | null;
  /** Plain text: paragraphs separated by blank lines, preformatted text verbatim. */
  text: string;
}

/** A fetched page or file reduced to plain, sectioned text. */
export interface ExtractedDocument {
  title: string;
  sections: Section[];
  /** Absolute http(s) URLs linked from the document, fragment stripped, deduplicated, in document order. */
  links: string[];
}

export type DocumentKind = 'html' | 'markdown' | 'text';
