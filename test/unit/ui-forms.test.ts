import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { flag, list, optionalText, parsedAs, text } from '../../src/routes/ui/forms.js';

/** The UI's form fields: what a browser (or a hostile client) may send, and what a handler gets. */
describe('UI form fields', () => {
  const form = z.object({ name: text(5), on: flag(), tags: list(3, 2), group: optionalText(4) });
  // An optional field not sent stays absent (the handler tells the two forms apart by it).
  const cases: [string, Record<string, unknown>, z.output<typeof form>][] = [
    ['nothing sent', {}, { name: '', on: false, tags: [] }],
    ['plain values', { name: 'abc', on: 'true', tags: 'x', group: '' }, { name: 'abc', on: true, tags: ['x'], group: '' }],
    ['long values are cut', { name: 'abcdefgh', tags: ['abcdef'], group: 'groupname' }, { name: 'abcde', on: false, tags: ['abc'], group: 'grou' }],
    ['a field sent twice: its first value; a list: at most its count', { name: ['one', 'two'], on: ['false', 'true'], tags: ['a', 'b', 'c'] }, { name: 'one', on: false, tags: ['a', 'b'] }],
    ['only the value true is on', { on: 'on' }, { name: '', on: false, tags: [] }],
    [
      'a file where text belongs reads as absent',
      { name: new File(['x'], 'x.txt'), tags: [new File(['x'], 'x'), 'ok'], group: new File(['x'], 'g') },
      { name: '', on: false, tags: ['ok'], group: undefined },
    ],
  ];
  for (const [what, raw, want] of cases) it(what, () => assert.deepEqual(form.parse(raw), want));

  it('parsedAs answers BAD_REQUEST naming each problem, as the REST API does', () => {
    const schema = z.object({ n: z.number(), s: z.enum(['a']) }).strict();
    assert.deepEqual(parsedAs(schema, { n: 1, s: 'a' }), { n: 1, s: 'a' });
    assert.throws(
      () => parsedAs(schema, { n: 'x', s: 'b', extra: 1 }),
      (e: Error & { code?: string }) => e.code === 'BAD_REQUEST' && /^n: .*; s: .*; body: Unrecognized key: "extra"$/.test(e.message),
    );
  });
});
