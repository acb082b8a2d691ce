/**
 * A tiny router: method + path pattern → route. Patterns use the OpenAPI
 * spec's own placeholder syntax (`/v1/vector_stores/{vector_store_id}/files`)
 * so new endpoints can be copied from the spec as they are.
 */
import type { Route } from './http-types.ts';

/** A matched route and its path parameters (URL-decoded). */
export interface RouteMatch {
  route: Route;
  params: Record<string, string>;
}

interface CompiledRoute {
  route: Route;
  regex: RegExp;
  names: string[];
}

/** Routes in registration order; the first match wins. */
export class Router {
  readonly #routes: CompiledRoute[] = [];

  /** Registers routes. @throws Error on a duplicate method + path */
  add(...routes: Route[]): this {
    for (const route of routes) {
      if (this.#routes.some((r) => r.route.method === route.method && r.route.path === route.path)) {
        throw new Error(`duplicate route ${route.method} ${route.path}`);
      }
      this.#routes.push(compile(route));
    }
    return this;
  }

  /** Finds the route for `method` and `pathname` (no query string). */
  match(method: string, pathname: string): RouteMatch | undefined {
    for (const { route, regex, names } of this.#routes) {
      if (route.method !== method) continue;
      const m = regex.exec(pathname);
      if (!m) continue;
      const params: Record<string, string> = {};
      names.forEach((name, i) => {
        params[name] = safeDecode(m[i + 1] ?? '');
      });
      return { route, params };
    }
    return undefined;
  }
}

/** `/v1/files/{file_id}` → `^/v1/files/([^/]+)/?$` with names `['file_id']`. */
function compile(route: Route): CompiledRoute {
  const names: string[] = [];
  const source = route.path
    .split('/')
    .map((segment) => {
      const m = /^\{(\w+)\}$/.exec(segment);
      if (!m) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      names.push(m[1] as string);
      return '([^/]+)';
    })
    .join('/');
  return { route, regex: new RegExp(`^${source}/?$`), names };
}

/** Percent-decodes a path segment; a malformed escape is kept as sent. */
function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
