// A real OpenID Provider (panva/oidc-provider, OpenID Certified) on loopback, for the IAM's
// social sign-in tests and for trying social sign-in locally (`make demo-idp`: `server.mjs --demo`).
//
// Never for production: it keeps everything in memory, signs users in without a password, and
// (with "control": true) lets a test rewrite its next token response to play an attacker.
//
// Configuration: a JSON file given as the first argument (or {} when none):
//   host, port          where to listen (port 0: any free port); the issuer is http://host:port
//   clients             oidc-provider client metadata (client_id, client_secret, redirect_uris)
//   accounts            {sub: claims} of the users who can sign in (more can be added, see below)
//   control             true: the test-only /__test/* endpoints below exist
// On start it prints one JSON line to stdout: {"issuer": "...", "port": N}.
//
// Signing in (GET /interaction/:uid, where the provider sends the browser):
//   ?login=<sub>  signs in as that account and grants the requested scopes;
//   ?deny=1       answers access_denied (the user cancelled);
//   otherwise     a small HTML page listing the accounts (for a human trying it out).
//
// Test control (only with "control": true):
//   POST /__test/accounts {sub, ...claims}   add or replace an account
//   POST /__test/fault {kind}                rewrite the ID token of the NEXT token response:
//        aud | iss | expired | stale_iat | nonce | alg_none | hs256 | foreign_key | sub |
//        no_id_token | token_server_error
//   POST /__test/fault {kind: "userinfo_sub"} the NEXT UserInfo answer names another subject
//   GET  /__test/token-requests              how many token requests were answered (and codes)

import { readFileSync } from 'node:fs';
import http from 'node:http';

import * as jose from 'jose';
import Provider from 'oidc-provider';

// `--demo`: the local demo (`make demo-idp`): a client for the IAM at $IAM_URL, two users.
function demoConfig() {
  const iam = (process.env.IAM_URL || 'http://127.0.0.1:8000').replace(/\/$/, '');
  return {
    port: Number(process.env.DEMO_IDP_PORT || 9400),
    clients: [{
      client_id: process.env.DEMO_IDP_CLIENT_ID || 'iam-demo',
      client_secret: process.env.DEMO_IDP_CLIENT_SECRET || 'iam-demo-secret-for-local-use-only',
      redirect_uris: [`${iam}/api/auth/social/demo/callback/`],
    }],
    accounts: {
      'demo-user': { email: 'demo@example.com', email_verified: true, name: 'Demo User' },
      'demo-unverified': { email: 'unverified@example.com', email_verified: false, name: 'Unverified Demo' },
    },
  };
}

const config = process.argv[2] === '--demo'
  ? demoConfig()
  : process.argv[2] ? JSON.parse(readFileSync(process.argv[2], 'utf8')) : {};
const host = config.host || '127.0.0.1';
const accounts = new Map(Object.entries(config.accounts || {}));
const faults = { token: null, userinfo: null };
const tokenRequests = [];

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
}

function escapeHtml(value) {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const server = http.createServer();
server.listen(config.port || 0, host, async () => {
  const { port } = server.address();
  const issuer = `http://${host}:${port}`;
  const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
  const signingJwk = { ...(await jose.exportJWK(privateKey)), kid: 'idp-key-1', alg: 'RS256', use: 'sig' };
  const signingKey = await jose.importJWK(signingJwk, 'RS256');
  const { privateKey: foreignKey } = await jose.generateKeyPair('RS256');

  const provider = new Provider(issuer, {
    clients: config.clients || [],
    jwks: { keys: [signingJwk] },
    async findAccount(ctx, sub) {
      const claims = accounts.get(sub);
      if (!claims) return undefined;
      return {
        accountId: sub,
        async claims() {
          return { ...claims, sub };
        },
      };
    },
    claims: {
      // with the provider-specific claims the IAM reads: Google's Workspace domain (hd),
      // Entra's verified e-mail domain (xms_edov) and directory (tid)
      openid: ['sub', 'hd', 'xms_edov', 'tid'],
      email: ['email', 'email_verified'],
      profile: ['name', 'given_name', 'family_name', 'preferred_username'],
    },
    scopes: ['openid', 'email', 'profile', 'offline_access'],
    features: {
      devInteractions: { enabled: false },
      claimsParameter: { enabled: true },
    },
    pkce: { required: () => true },
    cookies: { keys: ['iam-test-provider-cookies-are-not-secret'] },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    ttl: { AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 3600, Grant: 3600 },
    renderError(ctx, out) {
      ctx.type = 'json';
      ctx.body = out;
    },
  });

  async function rewrite(idToken, kind, clientSecret) {
    const claims = jose.decodeJwt(idToken);
    const now = Math.floor(Date.now() / 1000);
    const sign = (payload, key = signingKey, header = { alg: 'RS256', kid: 'idp-key-1' }) =>
      new jose.SignJWT(payload).setProtectedHeader(header).sign(key);
    switch (kind) {
      case 'aud': return sign({ ...claims, aud: 'some-other-client' });
      case 'iss': return sign({ ...claims, iss: 'http://evil.example' });
      case 'expired': return sign({ ...claims, iat: now - 7200, exp: now - 3600 });
      case 'stale_iat': return sign({ ...claims, iat: now - 3600, exp: now + 600 });
      case 'nonce': return sign({ ...claims, nonce: 'not-the-nonce-the-iam-sent' });
      case 'sub': return sign({ ...claims, sub: `${claims.sub}-someone-else` });
      case 'foreign_key': return sign(claims, foreignKey);
      case 'hs256':
        return new jose.SignJWT(claims)
          .setProtectedHeader({ alg: 'HS256', kid: 'idp-key-1' })
          .sign(new TextEncoder().encode(clientSecret));
      case 'alg_none': {
        const encode = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
        return `${encode({ alg: 'none', kid: 'idp-key-1' })}.${encode(claims)}.`;
      }
      default: throw new Error(`unknown fault ${kind}`);
    }
  }

  provider.use(async (ctx, next) => {
    // test control
    if (ctx.path.startsWith('/__test/')) {
      if (!config.control) {
        ctx.status = 404;
        return;
      }
      if (ctx.path === '/__test/accounts' && ctx.method === 'POST') {
        const { sub, ...claims } = await readJson(ctx.req);
        accounts.set(sub, claims);
        ctx.body = { ok: true };
      } else if (ctx.path === '/__test/fault' && ctx.method === 'POST') {
        const { kind } = await readJson(ctx.req);
        if (kind === 'userinfo_sub') faults.userinfo = kind;
        else faults.token = kind;
        ctx.body = { ok: true };
      } else if (ctx.path === '/__test/token-requests') {
        ctx.body = { requests: tokenRequests };
      } else {
        ctx.status = 404;
      }
      return;
    }
    // signing in, without a password
    const match = ctx.path.match(/^\/interaction\/([^/]+)$/);
    if (match && ctx.method === 'GET') {
      const details = await provider.interactionDetails(ctx.req, ctx.res);
      const sub = ctx.query.login;
      let result;
      if (ctx.query.deny) {
        result = { error: 'access_denied', error_description: 'The user cancelled.' };
      } else if (sub && accounts.has(sub)) {
        const { params, prompt } = details;
        const grant = details.grantId
          ? await provider.Grant.find(details.grantId)
          : new provider.Grant({ accountId: sub, clientId: params.client_id });
        grant.addOIDCScope(String(params.scope || 'openid'));
        const { missingOIDCClaims = [] } = prompt.details || {};
        if (missingOIDCClaims.length) grant.addOIDCClaims(missingOIDCClaims);
        result = { login: { accountId: sub }, consent: { grantId: await grant.save() } };
      }
      if (result) {
        const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, {
          mergeWithLastSubmission: false,
        });
        ctx.status = 303;
        ctx.redirect(returnTo);
        return;
      }
      const links = [...accounts.entries()]
        .map(([id, c]) => `<li><a href="?login=${encodeURIComponent(id)}">${escapeHtml(c.name || id)} &lt;${escapeHtml(c.email || '')}&gt;</a></li>`)
        .join('');
      ctx.type = 'html';
      ctx.body = `<!doctype html><meta charset="utf-8"><title>Test OpenID provider</title>
<h1>Test OpenID provider</h1><p>Sign in as (no password: this provider is for tests and demos only):</p>
<ul>${links}</ul><p><a href="?deny=1">Cancel</a></p>`;
      return;
    }
    await next();
    // the attacker's rewrite of a UserInfo answer
    if (ctx.path === '/me' && faults.userinfo && ctx.status === 200 && ctx.body && ctx.body.sub) {
      faults.userinfo = null;
      ctx.body = { ...ctx.body, sub: `${ctx.body.sub}-someone-else` };
    }
    // the attacker's rewrite of a token response
    if (ctx.path === '/token' && ctx.method === 'POST') {
      tokenRequests.push({ status: ctx.status, error: ctx.body && ctx.body.error });
      const kind = faults.token;
      if (kind && ctx.status === 200 && ctx.body && ctx.body.id_token) {
        faults.token = null;
        if (kind === 'no_id_token') {
          const { id_token: _dropped, ...rest } = ctx.body;
          ctx.body = rest;
        } else if (kind === 'token_server_error') {
          ctx.status = 500;
          ctx.body = { error: 'server_error' };
        } else {
          const client = (config.clients || []).find((c) => c.client_id === jose.decodeJwt(ctx.body.id_token).aud);
          ctx.body = { ...ctx.body, id_token: await rewrite(ctx.body.id_token, kind, client?.client_secret || '') };
        }
      }
    }
  });

  server.on('request', provider.callback());
  process.stdout.write(`${JSON.stringify({ issuer, port })}\n`);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
