import { z } from 'zod';
import { badRequest } from '../../errors.js';
import type { Ctx } from '../http.js';

/**
 * The one reader of UI form bodies: every POST handler declares its form as a zod schema and gets the parsed value
 * here, so no handler reads a raw field. The CSRF middleware has read `_csrf` before (hono keeps the parsed body, so
 * it is read once); schemas ignore it and any other field they do not name.
 */
export async function parseForm<S extends z.ZodType>(c: Ctx, schema: S): Promise<z.output<S>> {
  // Anything but a form (a bare POST without fields, another media type) reads as an empty one; a field sent more
  // than once comes as an array, for `list` (the single-value fields take its first value).
  return parsedAs(schema, await c.req.parseBody({ all: true }));
}

/** The first value of a field sent once or more (`parseForm` reads repeated fields as arrays). */
const first = (v: unknown) => (Array.isArray(v) ? v[0] : v);

/**
 * A text field as browsers send it: cut at `max` characters, `''` when absent or not text (a file). Never fails, as
 * the hand-written reading it replaces did not: what a field must contain is the schema's or the service's rule.
 */
export const text = (max = 1024) => z.preprocess((v) => (typeof first(v) === 'string' ? (first(v) as string).slice(0, max) : ''), z.string());

/** A text field whose presence means something (which of two forms was sent): undefined when absent. */
export const optionalText = (max = 1024) => z.preprocess((v) => (typeof first(v) === 'string' ? (first(v) as string).slice(0, max) : undefined), z.string().optional());

/** A checkbox or hidden flag: true only for the value `true`. */
export const flag = () => z.preprocess((v) => first(v) === 'true', z.boolean());

/** A field sent any number of times (checkbox groups), each value cut at `max`, at most `count` of them. */
export const list = (max: number, count: number) =>
  z.preprocess(
    (v) =>
      (Array.isArray(v) ? v : v === undefined ? [] : [v])
        .filter((x): x is string => typeof x === 'string')
        .map((x) => x.slice(0, max))
        .slice(0, count),
    z.array(z.string()),
  );

/**
 * A value built from a form, parsed by the schema the REST API parses its body with (the service takes only parsed
 * values): BAD_REQUEST naming every problem, as the REST API answers, for the handler to show as it shows any error.
 */
export function parsedAs<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw badRequest(parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '));
  return parsed.data;
}
