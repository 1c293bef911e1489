import { getIntrospectionQuery } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setUpAdmin, startTestGatehouse, type TestGatehouse } from '../support/gatehouse.js';

interface Answer {
  status: number;
  data?: Record<string, unknown> | null;
  errors?: { message: string; extensions?: { code?: string } }[];
}

/** `ofType { ofType { … name … } }`, `levels` deep. */
const ofTypeChain = (levels: number, leaf = 'name') =>
  `${'ofType { '.repeat(levels)}${leaf}${' }'.repeat(levels)}`;

describe('GraphQL: introspection within the limits, validation errors as 400', () => {
  let gh: TestGatehouse;
  let token: string;

  beforeAll(async () => {
    gh = await startTestGatehouse();
    const admin = await setUpAdmin(gh);
    token = (await admin.apiTokens.create.mutate({ name: 'explorer' })).token;
  });
  afterAll(async () => {
    await gh.stop();
  });

  async function post(query: string, accept?: string): Promise<Answer> {
    const response = await fetch(`${gh.portalUrl}/graphql`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${token}`,
        ...(accept && { accept }),
      },
      body: JSON.stringify({ query }),
    });
    return { status: response.status, ...((await response.json()) as object) };
  }

  const refusedAs400 = (answer: Answer, why: RegExp) => {
    expect(answer.status).toBe(400);
    expect(answer.data ?? null).toBeNull();
    expect(answer.errors?.[0]?.extensions?.code).toBe('VALIDATION_FAILED');
    expect(answer.errors?.[0]?.message).toMatch(why);
  };

  it('refuses a depth-50 introspection query before running it', async () => {
    refusedAs400(
      await post(`{ __schema { types { fields { type { ${ofTypeChain(46)} } } } } }`),
      /depth limit/i,
    );
    refusedAs400(
      await post(`{ __type(name: "Query") { fields { type { ${ofTypeChain(46)} } } } }`),
      /depth limit/i,
    );
    // Through fragments too: spreads are followed, not a way around the count.
    refusedAs400(
      await post(
        `query { __schema { types { ...Deep } } } fragment Deep on __Type { fields { type { ${ofTypeChain(46)} } } }`,
      ),
      /depth limit/i,
    );
  });

  it('counts introspection toward the cost limit', async () => {
    // Within the depth, alias and token limits, but 12 deep branches of it cost about 28,000.
    const branch = (index: number) =>
      `b${index}: fields { type { ${ofTypeChain(10, 'kind name description specifiedByURL')} } }`;
    const branches = Array.from({ length: 12 }, (_, index) => branch(index)).join(' ');
    refusedAs400(await post(`{ __schema { types { ${branches} } } }`), /cost limit/i);
    // Two such branches are fine.
    expect((await post(`{ __schema { types { ${branch(0)} ${branch(1)} } } }`)).status).toBe(200);
  });

  it('still answers the standard introspection query GraphiQL sends', async () => {
    const answer = await post(getIntrospectionQuery({ descriptions: true, specifiedByUrl: true }));
    expect(answer.errors).toBeUndefined();
    expect(answer.status).toBe(200);
    expect(answer.data?.__schema).toMatchObject({ queryType: { name: 'Query' } });
  });

  it('answers an invalid document with 400 VALIDATION_FAILED, whatever the Accept header', async () => {
    for (const accept of [undefined, 'application/json', 'application/graphql-response+json']) {
      refusedAs400(await post('{ nope }', accept), /Cannot query field "nope"/);
    }
    const viaGet = await fetch(`${gh.portalUrl}/graphql?query=${encodeURIComponent('{ nope }')}`, {
      headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
    });
    expect(viaGet.status).toBe(400);
    expect(((await viaGet.json()) as Answer).errors?.[0]?.extensions?.code).toBe('VALIDATION_FAILED');
  });
});
