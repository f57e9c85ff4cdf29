'use strict';
// Express peer of Rampart for the issue 7 benchmarks.
//
// The stack the "secure your Express API" checklist articles assemble by hand: helmet, cors with
// an allowlist, express-rate-limit, a JSON body limit, zod schemas, bcrypt (cost 12) and JWT
// access tokens verified with an algorithm allowlist, issuer, audience and expiry. It serves the
// benchmarked subset of Rampart's routes with the same checks and the same response shapes, so
// that a benchmark measures the two stacks doing the same work. See README.md.
//
// Start: `node server.js`; env PORT (0 = any free port), BENCH_ALG, RATE_LIMIT_MAX,
// LOGIN_RATE_LIMIT_MAX, CORS_ORIGINS, BCRYPT_COST (default 12; the harness's smoke run lowers
// it). Binds 127.0.0.1 only. Keys are generated at start-up and never leave the process.

const crypto = require('node:crypto');
const http = require('node:http');
const express = require('express');
const helmet = require('helmet');
const cors = require('cors');
const { rateLimit } = require('express-rate-limit');
const jose = require('jose');
const { z } = require('zod');
const bcrypt = require('bcryptjs');
const initSqlJs = require('sql.js');

// ---------------------------------------------------------------------------------------------
// Configuration (env only; refuse what we do not understand rather than guess)

function intEnv(name, fallback, min, max) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw)) throw new Error(`${name} must be a whole number`);
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new Error(`${name} must be from ${min} to ${max}`);
  }
  return n;
}

// "Very high" so that a benchmark never trips them; set them low to see them work.
const UNLIMITED = 1_000_000_000;
let config; // set by loadConfig() in main()
function loadConfig() {
  const c = {
    port: intEnv('PORT', 3000, 0, 65535),
    alg: process.env.BENCH_ALG || 'HS256',
    // 12 is the checklist's minimum for bcrypt; lower only for `bench/run --quick`, whose
    // numbers say nothing (a flood of cost-12 logins takes Express many seconds to drain).
    bcryptCost: intEnv('BCRYPT_COST', 12, 4, 15),
    rateLimitMax: intEnv('RATE_LIMIT_MAX', UNLIMITED, 1, UNLIMITED),
    loginRateLimitMax: intEnv('LOGIN_RATE_LIMIT_MAX', UNLIMITED, 1, UNLIMITED),
    corsOrigins: (process.env.CORS_ORIGINS || '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  };
  if (c.alg !== 'HS256' && c.alg !== 'EdDSA') throw new Error('BENCH_ALG must be HS256 or EdDSA');
  return c;
}

const ACCESS_TTL_SECS = 900; // 15 minutes, like Rampart's access tokens
const ISSUER = 'rampart-bench-express';
const AUDIENCE = 'rampart-bench-api';
const BODY_LIMIT = '1mb';

// ---------------------------------------------------------------------------------------------
// Errors: {"error": code, "message": text, "request_id": id}, never a stack trace

const CODES = {
  validation_failed: [400, 'The request is invalid. See details.'],
  invalid_json: [400, 'The request body is not valid JSON.'],
  bad_request: [400, 'The request could not be processed.'],
  invalid_cursor: [400, 'The pagination cursor is invalid.'],
  invalid_credentials: [401, 'Invalid email or password.'],
  unauthorized: [401, 'Authentication is required.'],
  invalid_token: [401, 'The token is invalid.'],
  token_expired: [401, 'The token has expired.'],
  forbidden: [403, 'You are not allowed to do this.'],
  not_found: [404, 'The requested resource was not found.'],
  method_not_allowed: [405, 'The method is not allowed for this resource.'],
  registration_failed: [409, 'Registration could not be completed.'],
  payload_too_large: [413, 'The request body is too large.'],
  unsupported_media_type: [415, 'The request body must be application/json.'],
  rate_limited: [429, 'Too many requests. Retry later.'],
  internal_error: [500, 'Internal server error'],
};

class ApiError extends Error {
  constructor(code, details, retryAfter) {
    super(code);
    this.code = code;
    this.details = details;
    this.retryAfter = retryAfter;
  }
}

function sendError(req, res, code, details, retryAfter) {
  const [status, message] = CODES[code] || CODES.internal_error;
  const body = { error: code, message, request_id: req.id };
  if (details && details.length) body.details = details;
  if (retryAfter !== undefined) {
    body.retry_after = retryAfter;
    res.set('Retry-After', String(retryAfter));
  }
  res.status(status).json(body);
}

// ---------------------------------------------------------------------------------------------
// Validation (zod, strict objects: an unknown field is a 400, never silently dropped)

const chars = (s) => [...s].length; // Unicode scalar values, as Rampart counts

function emailField() {
  return z
    .string()
    .transform((s) => s.trim().toLowerCase())
    .pipe(z.string().min(1, 'must not be empty').max(254, 'must be at most 254 characters'))
    .pipe(z.email({ message: 'must be a valid email address' }));
}

const registerSchema = z
  .strictObject({
    email: emailField(),
    password: z
      .string()
      .refine((s) => chars(s) >= 12, 'must be at least 12 characters')
      .refine((s) => chars(s) <= 128, 'must be at most 128 characters'),
    name: z
      .string()
      .transform((s) => s.trim())
      .refine((s) => chars(s) >= 1, 'must not be empty')
      .refine((s) => chars(s) <= 100, 'must be at most 100 characters')
      .refine(
        (s) => /^[\p{L}\p{M} '\u2019-]*$/u.test(s),
        'may contain only letters, spaces, apostrophes and hyphens',
      ),
  })
  .superRefine((v, ctx) => {
    // Rampart also refuses a password that contains the email's local part.
    const local = v.email.slice(0, v.email.lastIndexOf('@'));
    if (chars(local) >= 3 && v.password.toLowerCase().includes(local)) {
      ctx.addIssue({
        code: 'custom',
        path: ['password'],
        message: 'must not contain your email address',
      });
    }
  });

const loginSchema = z.strictObject({
  email: emailField(),
  password: z
    .string()
    .min(1, 'must not be empty')
    .refine((s) => chars(s) <= 128, 'must be at most 128 characters'),
});

const noteCreateSchema = z.strictObject({
  title: z
    .string()
    .refine((s) => chars(s) >= 1, 'must not be empty')
    .refine((s) => chars(s) <= 200, 'must be at most 200 characters'),
  body: z
    .string()
    .refine((s) => chars(s) <= 20000, 'must be at most 20000 characters')
    .nullable()
    .optional(),
});

function zodDetails(error) {
  const details = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) details.push({ field: key, message: 'is not allowed' });
    } else if (issue.code === 'invalid_type' && issue.path.length === 0) {
      details.push({ field: '(body)', message: 'must be a JSON object' });
    } else {
      const field = issue.path.join('.') || '(body)';
      const message =
        issue.code === 'invalid_type'
          ? issue.input === undefined
            ? 'is required'
            : `must be a ${issue.expected}`
          : issue.message;
      details.push({ field, message });
    }
  }
  return details;
}

function parseBody(schema, req) {
  const result = schema.safeParse(req.body);
  if (!result.success) throw new ApiError('validation_failed', zodDetails(result.error));
  return result.data;
}

// ---------------------------------------------------------------------------------------------
// Ids: UUIDv7 (time-ordered, like Rampart's record ids), so "ordered by id" is creation order

function uuidv7() {
  const b = crypto.randomBytes(16);
  const ms = BigInt(Date.now());
  for (let i = 0; i < 6; i++) b[i] = Number((ms >> BigInt(8 * (5 - i))) & 0xffn);
  b[6] = (b[6] & 0x0f) | 0x70;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const rfc3339 = (ms) => new Date(ms).toISOString();

// ---------------------------------------------------------------------------------------------
// Store: SQLite via sql.js (WebAssembly, in memory). Synchronous calls on the event loop.

async function openStore() {
  const SQL = await initSqlJs();
  const db = new SQL.Database();
  db.run(`
    PRAGMA foreign_keys = ON;
    CREATE TABLE users (
      id TEXT PRIMARY KEY,
      email TEXT NOT NULL UNIQUE,
      name TEXT NOT NULL,
      role TEXT NOT NULL,
      password_hash TEXT NOT NULL,
      created_at_ms INTEGER NOT NULL
    );
    CREATE TABLE notes (
      id TEXT PRIMARY KEY,
      owner_id TEXT NOT NULL REFERENCES users(id),
      title TEXT NOT NULL,
      body TEXT,
      created_at_ms INTEGER NOT NULL,
      updated_at_ms INTEGER NOT NULL,
      version INTEGER NOT NULL
    );
    CREATE INDEX notes_owner_id ON notes(owner_id, id);
  `);
  const stmts = {
    insertUser: db.prepare(
      'INSERT INTO users (id, email, name, role, password_hash, created_at_ms) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    userByEmail: db.prepare('SELECT * FROM users WHERE email = ?'),
    userById: db.prepare('SELECT * FROM users WHERE id = ?'),
    insertNote: db.prepare(
      'INSERT INTO notes (id, owner_id, title, body, created_at_ms, updated_at_ms, version) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
    // The owner check is in the query: another user's record is never fetched.
    noteById: db.prepare('SELECT * FROM notes WHERE id = ? AND owner_id = ?'),
    notesFirst: db.prepare('SELECT * FROM notes WHERE owner_id = ? ORDER BY id LIMIT ?'),
    notesAfter: db.prepare(
      'SELECT * FROM notes WHERE owner_id = ? AND id > ? ORDER BY id LIMIT ?',
    ),
  };
  const one = (stmt, params) => {
    try {
      stmt.bind(params);
      return stmt.step() ? stmt.getAsObject() : null;
    } finally {
      stmt.reset();
    }
  };
  const all = (stmt, params) => {
    const rows = [];
    try {
      stmt.bind(params);
      while (stmt.step()) rows.push(stmt.getAsObject());
    } finally {
      stmt.reset();
    }
    return rows;
  };
  const run = (stmt, params) => {
    try {
      stmt.run(params);
    } finally {
      stmt.reset();
    }
  };
  return {
    /** Inserts a user; false when the email is taken. */
    insertUser(u) {
      try {
        run(stmts.insertUser, [u.id, u.email, u.name, u.role, u.password_hash, u.created_at_ms]);
        return true;
      } catch (e) {
        if (/UNIQUE constraint failed/.test(String(e && e.message))) return false;
        throw e;
      }
    },
    userByEmail: (email) => one(stmts.userByEmail, [email]),
    userById: (id) => one(stmts.userById, [id]),
    insertNote(n) {
      run(stmts.insertNote, [
        n.id,
        n.owner_id,
        n.title,
        n.body,
        n.created_at_ms,
        n.updated_at_ms,
        n.version,
      ]);
    },
    noteById: (id, ownerId) => one(stmts.noteById, [id, ownerId]),
    notesOf: (ownerId, afterId, limit) =>
      afterId === null
        ? all(stmts.notesFirst, [ownerId, limit])
        : all(stmts.notesAfter, [ownerId, afterId, limit]),
  };
}

// ---------------------------------------------------------------------------------------------
// Tokens: generated key material, explicit algorithm allowlist, issuer, audience, expiry

function tokenKeys(alg) {
  if (alg === 'HS256') {
    const secret = crypto.createSecretKey(crypto.randomBytes(32));
    return { sign: secret, verify: secret };
  }
  const { publicKey, privateKey } = crypto.generateKeyPairSync('ed25519');
  return { sign: privateKey, verify: publicKey };
}

function tokens(alg) {
  const keys = tokenKeys(alg);
  return {
    async issue(user) {
      const now = Math.floor(Date.now() / 1000);
      return new jose.SignJWT({ role: user.role })
        .setProtectedHeader({ alg, typ: 'JWT' })
        .setSubject(user.id)
        .setIssuedAt(now)
        .setExpirationTime(now + ACCESS_TTL_SECS)
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setJti(crypto.randomUUID())
        .sign(keys.sign);
    },
    /** The verified claims, or an ApiError (token_expired / invalid_token). */
    async verify(token) {
      try {
        const { payload } = await jose.jwtVerify(token, keys.verify, {
          algorithms: [alg],
          issuer: ISSUER,
          audience: AUDIENCE,
          requiredClaims: ['sub', 'iat', 'exp', 'jti'],
          clockTolerance: 0,
        });
        if (typeof payload.sub !== 'string' || !UUID_RE.test(payload.sub)) {
          throw new ApiError('invalid_token');
        }
        return payload;
      } catch (e) {
        if (e instanceof ApiError) throw e;
        if (e instanceof jose.errors.JWTExpired) throw new ApiError('token_expired');
        throw new ApiError('invalid_token');
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// App

function userJson(u) {
  return {
    id: u.id,
    email: u.email,
    name: u.name,
    role: u.role,
    created_at: rfc3339(u.created_at_ms),
  };
}

function noteJson(n) {
  return {
    id: n.id,
    owner_id: n.owner_id,
    created_at: rfc3339(n.created_at_ms),
    updated_at: rfc3339(n.updated_at_ms),
    version: n.version,
    title: n.title,
    body: n.body === undefined ? null : n.body,
  };
}

const encodeCursor = (id) => Buffer.from(`id:${id}`).toString('base64url');
function decodeCursor(raw) {
  if (typeof raw !== 'string' || raw.length > 200 || !/^[A-Za-z0-9_-]+$/.test(raw)) return null;
  const text = Buffer.from(raw, 'base64url').toString('utf8');
  const id = text.startsWith('id:') ? text.slice(3) : '';
  return UUID_RE.test(id) ? id : null;
}

function buildApp({ store, tok, dummyHash }) {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false); // bound to 127.0.0.1; no proxy headers are believed
  app.set('query parser', 'simple');

  app.use((req, res, next) => {
    req.id = crypto.randomUUID();
    res.set('X-Request-Id', req.id);
    next();
  });
  app.use(helmet());
  const allowed = new Set(config.corsOrigins);
  app.use(
    cors({
      // Exact allowlist (empty by default): no wildcard, no reflection of unknown origins.
      origin: (origin, cb) => cb(null, origin !== undefined && allowed.has(origin)),
      credentials: false,
    }),
  );
  app.use(
    rateLimit({
      windowMs: 60_000,
      limit: config.rateLimitMax,
      standardHeaders: 'draft-8',
      legacyHeaders: false,
      handler: (req, res, _next, options) =>
        sendError(req, res, 'rate_limited', null, Math.ceil(options.windowMs / 1000)),
    }),
  );
  const loginLimiter = rateLimit({
    windowMs: 15 * 60_000,
    limit: config.loginRateLimitMax,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    identifier: 'login',
    handler: (req, res, _next, options) =>
      sendError(req, res, 'rate_limited', null, Math.ceil(options.windowMs / 1000)),
  });

  // A body must be JSON: anything else is a 415, not an empty object.
  app.use((req, res, next) => {
    if (req.method === 'POST' || req.method === 'PUT' || req.method === 'PATCH') {
      if (!req.is('application/json')) return sendError(req, res, 'unsupported_media_type');
    }
    next();
  });
  app.use(express.json({ limit: BODY_LIMIT, strict: true }));

  async function caller(req) {
    const header = req.get('authorization');
    if (header === undefined) throw new ApiError('unauthorized');
    const m = /^Bearer ([A-Za-z0-9_\-.]+)$/.exec(header);
    if (!m) throw new ApiError('invalid_token');
    const claims = await tok.verify(m[1]);
    return { userId: claims.sub, role: claims.role };
  }

  app.post('/api/auth/register', async (req, res) => {
    const input = parseBody(registerSchema, req);
    // Hash before looking at the email: a duplicate costs the same as a new account.
    const passwordHash = await bcrypt.hash(input.password, config.bcryptCost);
    const user = {
      id: uuidv7(),
      email: input.email,
      name: input.name,
      role: 'user',
      password_hash: passwordHash,
      created_at_ms: Date.now(),
    };
    if (!store.insertUser(user)) throw new ApiError('registration_failed');
    res.status(201).json(userJson(user));
  });

  app.post('/api/auth/login', loginLimiter, async (req, res) => {
    const input = parseBody(loginSchema, req);
    const user = store.userByEmail(input.email);
    // Unknown email: compare against a dummy hash so both paths do the same work.
    const matched = await bcrypt.compare(input.password, user ? user.password_hash : dummyHash);
    if (!user || !matched) throw new ApiError('invalid_credentials');
    res.set('Cache-Control', 'no-store');
    res.json({
      access_token: await tok.issue(user),
      token_type: 'Bearer',
      expires_in: ACCESS_TTL_SECS,
    });
  });

  app.get('/api/users/me', async (req, res) => {
    const me = await caller(req);
    const user = store.userById(me.userId);
    if (!user) throw new ApiError('not_found');
    res.json(userJson(user));
  });

  // Only the `notes` collection exists here; any other name is a 404 like an unknown route.
  const notesOnly = (req, _res, next) =>
    next(req.params.name === 'notes' ? undefined : new ApiError('not_found'));

  app.get('/api/collections/:name/records', notesOnly, async (req, res) => {
    const me = await caller(req);
    const details = [];
    let limit = 20;
    let after = null;
    for (const [key, value] of Object.entries(req.query)) {
      if (Array.isArray(value)) {
        details.push({ field: key, message: 'must appear at most once' });
      } else if (key === 'limit') {
        if (!/^\d{1,3}$/.test(value) || Number(value) < 1 || Number(value) > 100) {
          details.push({ field: key, message: 'must be an integer from 1 to 100' });
        } else {
          limit = Number(value);
        }
      } else if (key === 'cursor') {
        after = decodeCursor(value);
        if (after === null) throw new ApiError('invalid_cursor');
      } else {
        // Rampart's filters and sort are not part of the benchmarked subset.
        details.push({ field: key, message: 'is not a supported query parameter' });
      }
    }
    if (details.length) throw new ApiError('validation_failed', details);
    const rows = store.notesOf(me.userId, after, limit);
    const next = rows.length === limit ? encodeCursor(rows[rows.length - 1].id) : null;
    res.json({ records: rows.map(noteJson), next_cursor: next });
  });

  app.post('/api/collections/:name/records', notesOnly, async (req, res) => {
    const me = await caller(req);
    const input = parseBody(noteCreateSchema, req);
    const now = Date.now();
    const note = {
      id: uuidv7(),
      owner_id: me.userId,
      title: input.title,
      body: input.body === undefined ? null : input.body,
      created_at_ms: now,
      updated_at_ms: now,
      version: 1,
    };
    store.insertNote(note);
    res.status(201).set('ETag', `"${note.version}"`).json(noteJson(note));
  });

  app.get('/api/collections/:name/records/:id', notesOnly, async (req, res) => {
    const me = await caller(req);
    // A malformed id cannot name a record: same answer as a missing one.
    if (!UUID_RE.test(req.params.id)) throw new ApiError('not_found');
    const note = store.noteById(req.params.id, me.userId);
    if (!note) throw new ApiError('not_found');
    res.set('ETag', `"${note.version}"`).json(noteJson(note));
  });

  // Known paths with another method: 405; everything else: 404.
  for (const path of [
    '/api/auth/register',
    '/api/auth/login',
    '/api/users/me',
    '/api/collections/:name/records',
    '/api/collections/:name/records/:id',
  ]) {
    app.all(path, (_req, _res, next) => next(new ApiError('method_not_allowed')));
  }
  app.use((_req, _res, next) => next(new ApiError('not_found')));

  // The one error handler: our codes as they are, body-parser's by type, anything else a
  // generic 500 whose cause goes to the log (under the request id), never to the client.
  app.use((err, req, res, _next) => {
    if (res.headersSent) return res.end();
    if (err instanceof ApiError) {
      return sendError(req, res, err.code, err.details, err.retryAfter);
    }
    switch (err && err.type) {
      case 'entity.parse.failed':
        return sendError(req, res, 'invalid_json');
      case 'entity.too.large':
        return sendError(req, res, 'payload_too_large');
      case 'charset.unsupported':
      case 'encoding.unsupported':
        return sendError(req, res, 'unsupported_media_type');
      default:
        break;
    }
    if (err && Number.isInteger(err.status) && err.status >= 400 && err.status < 500) {
      return sendError(req, res, err.status === 404 ? 'not_found' : 'bad_request');
    }
    console.error(`request ${req.id} failed:`, err);
    return sendError(req, res, 'internal_error');
  });
  return app;
}

async function main() {
  config = loadConfig();
  const store = await openStore();
  const tok = tokens(config.alg);
  // The dummy hash unknown emails are compared against: same cost, random password.
  const dummyHash = await bcrypt.hash(
    crypto.randomBytes(24).toString('base64'),
    config.bcryptCost,
  );
  const app = buildApp({ store, tok, dummyHash });
  const server = http.createServer(app);
  server.listen(config.port, '127.0.0.1', () => {
    const { port } = server.address();
    // Parsed by selfcheck.js: keep the format.
    console.log(`rampart-bench express peer listening on http://127.0.0.1:${port} (alg ${config.alg})`);
  });
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e) => {
  console.error('start-up failed:', e && e.message ? e.message : e);
  process.exit(1);
});
