'use strict';
// Self-check of the Express peer: starts `node server.js` on a free 127.0.0.1 port (once per
// algorithm: HS256 and EdDSA, or only BENCH_ALG when it is set), walks the benchmarked routes and
// exits non-zero on the first mismatch. Bounded: each run is killed after RUN_TIMEOUT_MS.

const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const path = require('node:path');

const RUN_TIMEOUT_MS = 60_000;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

class Mismatch extends Error {}
function check(cond, what, got) {
  if (!cond) throw new Mismatch(`${what}${got === undefined ? '' : `: got ${JSON.stringify(got)}`}`);
}

function startServer(alg) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(__dirname, 'server.js')], {
      env: { ...process.env, PORT: '0', BENCH_ALG: alg },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    const timer = setTimeout(() => reject(new Error('server did not start within 20 s')), 20_000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, base: `http://127.0.0.1:${m[1]}` });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited early (code ${code})`));
    });
  });
}

async function run(alg) {
  const { child, base } = await startServer(alg);
  const killTimer = setTimeout(() => {
    console.error(`selfcheck ${alg}: timed out after ${RUN_TIMEOUT_MS} ms`);
    child.kill('SIGKILL');
    process.exit(2);
  }, RUN_TIMEOUT_MS);
  try {
    const call = async (method, url, { body, token, raw, headers = {} } = {}) => {
      const h = { ...headers };
      if (body !== undefined) h['content-type'] = 'application/json';
      if (token) h.authorization = `Bearer ${token}`;
      const res = await fetch(base + url, {
        method,
        headers: h,
        body: raw !== undefined ? raw : body !== undefined ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(15_000),
      });
      const text = await res.text();
      let json;
      try {
        json = JSON.parse(text);
      } catch {
        throw new Mismatch(`${method} ${url}: body is not JSON: ${text.slice(0, 200)}`);
      }
      return { status: res.status, json, headers: res.headers };
    };
    const expectError = (r, status, code, what) => {
      check(r.status === status, `${what}: status ${status}`, r.status);
      check(r.json.error === code, `${what}: error ${code}`, r.json);
      check(typeof r.json.message === 'string', `${what}: message`, r.json);
      check(!/\bat .+\(.*:\d+:\d+\)/.test(JSON.stringify(r.json)), `${what}: no stack trace`, r.json);
    };

    const tag = crypto.randomBytes(4).toString('hex');
    const alice = { email: `alice-${tag}@example.com`, password: 'orange-violin-staple-42', name: 'Alice' };
    const bob = { email: `bob-${tag}@example.com`, password: 'quiet-lantern-river-77', name: 'Bob' };

    // Registration
    let r = await call('POST', '/api/auth/register', { body: alice });
    check(r.status === 201, 'register alice: 201', r);
    check(UUID_RE.test(r.json.id), 'register: id is a UUIDv7', r.json.id);
    check(r.json.email === alice.email && r.json.name === 'Alice', 'register: echo', r.json);
    check(!('password_hash' in r.json) && !('password' in r.json), 'register: no hash', r.json);
    check(r.headers.get('x-powered-by') === null, 'no x-powered-by', r.headers.get('x-powered-by'));
    check(r.headers.get('x-content-type-options') === 'nosniff', 'helmet headers present');
    const aliceId = r.json.id;
    r = await call('POST', '/api/auth/register', { body: bob });
    check(r.status === 201, 'register bob: 201', r);
    r = await call('POST', '/api/auth/register', { body: alice });
    expectError(r, 409, 'registration_failed', 'duplicate email');
    r = await call('POST', '/api/auth/register', { body: { ...alice, email: `c-${tag}@example.com`, role: 'admin' } });
    expectError(r, 400, 'validation_failed', 'unknown field at registration');
    r = await call('POST', '/api/auth/register', { body: { email: 'not-an-email', password: 'x', name: '' } });
    expectError(r, 400, 'validation_failed', 'invalid registration');
    check(r.json.details.length === 3, 'invalid registration: three field errors', r.json.details);

    // Login
    r = await call('POST', '/api/auth/login', { body: { email: alice.email, password: alice.password } });
    check(r.status === 200, 'login: 200', r);
    check(r.json.token_type === 'Bearer' && r.json.expires_in === 900, 'login: token shape', r.json);
    const aliceToken = r.json.access_token;
    const [h64, p64] = aliceToken.split('.');
    const header = JSON.parse(Buffer.from(h64, 'base64url').toString());
    const claims = JSON.parse(Buffer.from(p64, 'base64url').toString());
    check(header.alg === alg, `token alg ${alg}`, header);
    for (const c of ['sub', 'iat', 'exp', 'iss', 'aud', 'jti']) check(c in claims, `claim ${c}`, claims);
    check(claims.exp - claims.iat === 900, 'token lives 15 minutes', claims);
    check(claims.sub === aliceId, 'sub is the user id', claims);
    const wrongPw = await call('POST', '/api/auth/login', { body: { email: alice.email, password: 'wrong-password-123' } });
    expectError(wrongPw, 401, 'invalid_credentials', 'wrong password');
    const unknown = await call('POST', '/api/auth/login', { body: { email: `nobody-${tag}@example.com`, password: 'wrong-password-123' } });
    expectError(unknown, 401, 'invalid_credentials', 'unknown email');
    check(wrongPw.json.message === unknown.json.message, 'wrong password and unknown email look the same');
    r = await call('POST', '/api/auth/login', { body: { email: bob.email, password: bob.password } });
    check(r.status === 200, 'login bob: 200', r);
    const bobToken = r.json.access_token;

    // Tokens
    r = await call('GET', '/api/users/me', { token: aliceToken });
    check(r.status === 200, 'me: 200', r);
    check(r.json.id === aliceId && r.json.email === alice.email && r.json.name === 'Alice' && r.json.role === 'user', 'me: shape', r.json);
    expectError(await call('GET', '/api/users/me'), 401, 'unauthorized', 'me without token');
    const flipped = aliceToken.slice(0, -2) + (aliceToken.endsWith('AA') ? 'BB' : 'AA');
    expectError(await call('GET', '/api/users/me', { token: flipped }), 401, 'invalid_token', 'me with a forged signature');
    const none = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${p64}.`;
    expectError(await call('GET', '/api/users/me', { token: none }), 401, 'invalid_token', 'me with alg none');
    const otherAlg = alg === 'HS256' ? 'EdDSA' : 'HS256';
    const swapped = `${Buffer.from(JSON.stringify({ alg: otherAlg, typ: 'JWT' })).toString('base64url')}.${p64}.${aliceToken.split('.')[2]}`;
    expectError(await call('GET', '/api/users/me', { token: swapped }), 401, 'invalid_token', `me with alg ${otherAlg}`);

    // Records
    const notes = '/api/collections/notes/records';
    r = await call('POST', notes, { body: { title: 'first', body: 'hello' }, token: aliceToken });
    check(r.status === 201, 'create: 201', r);
    const rec = r.json;
    check(UUID_RE.test(rec.id), 'create: id is a UUIDv7', rec);
    check(rec.owner_id === aliceId && rec.title === 'first' && rec.body === 'hello' && rec.version === 1, 'create: fields', rec);
    check(!Number.isNaN(Date.parse(rec.created_at)) && rec.created_at === rec.updated_at, 'create: timestamps', rec);
    expectError(await call('POST', notes, { body: { title: 'x', owner_id: aliceId }, token: aliceToken }), 400, 'validation_failed', 'create with owner_id');
    expectError(await call('POST', notes, { body: { title: '' }, token: aliceToken }), 400, 'validation_failed', 'create with empty title');
    expectError(await call('POST', notes, { body: { title: 'x' } }), 401, 'unauthorized', 'create without token');
    r = await call('POST', notes, { body: { title: 'second' }, token: aliceToken });
    check(r.status === 201 && r.json.body === null, 'create without body: 201, body null', r);
    r = await call('POST', notes, { body: { title: 'third' }, token: aliceToken });
    check(r.status === 201, 'create third: 201', r);

    r = await call('GET', `${notes}/${rec.id}`, { token: aliceToken });
    check(r.status === 200 && JSON.stringify(r.json) === JSON.stringify(rec), 'read own record', r);
    r = await call('GET', `${notes}?limit=100`, { token: aliceToken });
    check(r.status === 200 && r.json.records.length === 3 && r.json.next_cursor === null, 'list: three records, no next page', r.json);
    check(r.json.records[0].id === rec.id, 'list: ordered by id', r.json.records.map((x) => x.id));
    r = await call('GET', `${notes}?limit=2`, { token: aliceToken });
    check(r.json.records.length === 2 && typeof r.json.next_cursor === 'string', 'list page 1', r.json);
    r = await call('GET', `${notes}?limit=2&cursor=${encodeURIComponent(r.json.next_cursor)}`, { token: aliceToken });
    check(r.status === 200 && r.json.records.length === 1 && r.json.records[0].title === 'third', 'list page 2', r.json);
    expectError(await call('GET', `${notes}?limit=101`, { token: aliceToken }), 400, 'validation_failed', 'limit 101');
    expectError(await call('GET', `${notes}?cursor=garbage!`, { token: aliceToken }), 400, 'invalid_cursor', 'bad cursor');

    // Another user sees none of it
    expectError(await call('GET', `${notes}/${rec.id}`, { token: bobToken }), 404, 'not_found', "bob reads alice's record");
    r = await call('GET', notes, { token: bobToken });
    check(r.status === 200 && r.json.records.length === 0, "bob's list is empty", r.json);
    expectError(await call('GET', `${notes}/${crypto.randomUUID()}`, { token: aliceToken }), 404, 'not_found', 'missing record');
    expectError(await call('GET', `${notes}/not-a-uuid`, { token: aliceToken }), 404, 'not_found', 'malformed id');
    expectError(await call('GET', '/api/collections/posts/records', { token: aliceToken }), 404, 'not_found', 'unknown collection');
    expectError(await call('GET', '/api/nothing-here'), 404, 'not_found', 'unknown route');
    expectError(await call('POST', notes, { raw: '{"title":', token: aliceToken, headers: { 'content-type': 'application/json' } }), 400, 'invalid_json', 'malformed JSON');
    const big = JSON.stringify({ title: 'big', body: 'x'.repeat(1024 * 1024) });
    expectError(await call('POST', notes, { raw: big, token: aliceToken, headers: { 'content-type': 'application/json' } }), 413, 'payload_too_large', 'body over 1mb');

    console.log(`selfcheck ${alg}: ok`);
  } finally {
    clearTimeout(killTimer);
    child.kill('SIGTERM');
  }
}

(async () => {
  const algs = process.env.BENCH_ALG ? [process.env.BENCH_ALG] : ['HS256', 'EdDSA'];
  for (const alg of algs) await run(alg);
  process.exit(0);
})().catch((e) => {
  console.error(`selfcheck failed: ${e.message}`);
  process.exit(1);
});
