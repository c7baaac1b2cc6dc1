// A real OpenID Connect / OAuth 2 authorization server (oidc-provider) on 127.0.0.1, for
// tests/oidc_provider.rs.
//
//   node server.mjs [PORT]        (or PORT in the environment; 0 or absent: any free port)
//
// Prints one JSON line on stdout when it is ready: {"issuer": "http://127.0.0.1:PORT", ...}.
// Everything else (oidc-provider's development warnings) goes to stderr.
//
// What it runs, on purpose as strict as oidc-provider gets:
// - short access tokens (OIDC_AT_TTL seconds, default 6) and client-credentials tokens;
// - refresh token rotation on every use (`rotateRefreshToken: true`) with oidc-provider's reuse
//   detection: a consumed refresh token presented again revokes the whole grant, no grace window;
// - authorization code + PKCE for a public native client whose loopback redirect may use any
//   port (RFC 8252 §7.3; oidc-provider allows the port to vary for `application_type: native`);
// - device flow, client credentials (a confidential client), revocation, introspection,
//   userinfo at /me; development login and consent forms (any login) for the scripted browser.
//
// Test hooks beside the provider (not part of any standard):
//   GET  /__stats          counters, every token request's outcome, every token value issued
//   POST /__pause          /token answers 503 until /__resume (an AS outage without losing state)
//   POST /__resume
//   GET  /api/whoami       a protected resource: 200 for a live access or client-credentials
//                          token (Authorization: Bearer), 401 otherwise
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const port = Number(process.argv[2] ?? process.env.PORT ?? 0);
const accessTtl = Number(process.env.OIDC_AT_TTL ?? 6);

export const PUBLIC_CLIENT = 'switchboard-cli';
export const SERVICE_CLIENT = 'switchboard-service';
export const SERVICE_SECRET = 'switchboard-service-secret';

const stats = {
  // Every POST to the token endpoint, including those answered 503 while paused.
  token_requests: 0,
  paused_rejections: 0,
  // grant_type -> count, from oidc-provider's `grant.success` / `grant.error` events.
  success: {},
  error: {},
  // Refresh tokens presented a second time (oidc-provider then revokes the grant).
  reuse_detected: 0,
  refresh_tokens_consumed: 0,
  grants_revoked: 0,
  // One entry per token request that reached oidc-provider, in order.
  outcomes: [],
  // Every token value issued, so the tests can look for them where they must not be.
  issued: { access: [], refresh: [], client_credentials: [] },
  paused: false,
};

let provider;

const server = createServer((req, res) => {
  const path = req.url.split('?')[0];
  if (path === '/__stats' && req.method === 'GET') {
    return json(res, 200, stats);
  }
  if (path === '/__pause' && req.method === 'POST') {
    stats.paused = true;
    return json(res, 200, { paused: true });
  }
  if (path === '/__resume' && req.method === 'POST') {
    stats.paused = false;
    return json(res, 200, { paused: false });
  }
  if (path === '/api/whoami' && req.method === 'GET') {
    return whoami(req, res).catch((e) => json(res, 500, { error: String(e) }));
  }
  if (path === '/token' && req.method === 'POST') {
    stats.token_requests += 1;
    if (stats.paused) {
      stats.paused_rejections += 1;
      req.resume();
      return json(res, 503, { error: 'temporarily_unavailable' });
    }
  }
  return provider.callback()(req, res);
});

server.listen(port, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  provider = new Provider(issuer, configuration());
  wireEvents(provider);
  process.stdout.write(`${JSON.stringify({
    issuer,
    public_client: PUBLIC_CLIENT,
    service_client: SERVICE_CLIENT,
    service_secret: SERVICE_SECRET,
    access_token_ttl: accessTtl,
  })}\n`);
});

function configuration() {
  return {
    clients: [
      {
        client_id: PUBLIC_CLIENT,
        application_type: 'native',
        token_endpoint_auth_method: 'none',
        // Any port: oidc-provider compares native clients' loopback redirects without the port.
        redirect_uris: ['http://127.0.0.1/callback'],
        response_types: ['code'],
        grant_types: [
          'authorization_code',
          'refresh_token',
          'urn:ietf:params:oauth:grant-type:device_code',
        ],
      },
      {
        client_id: SERVICE_CLIENT,
        client_secret: SERVICE_SECRET,
        token_endpoint_auth_method: 'client_secret_basic',
        redirect_uris: [],
        response_types: [],
        grant_types: ['client_credentials'],
        scope: 'api:read',
      },
    ],
    scopes: ['openid', 'offline_access', 'profile', 'api:read'],
    claims: { openid: ['sub'], profile: ['name'] },
    async findAccount(_ctx, sub) {
      return { accountId: sub, async claims() { return { sub, name: sub }; } };
    },
    // Profile claims go to userinfo, not the ID token (the OIDC Core behaviour).
    conformIdTokenClaims: true,
    // A refresh token for every client allowed the grant (offline_access is still requested).
    async issueRefreshToken(_ctx, client) {
      return client.grantTypeAllowed('refresh_token');
    },
    // Rotate on every use; a used refresh token presented again revokes the grant.
    rotateRefreshToken: true,
    pkce: { required: () => true },
    ttl: {
      AccessToken: accessTtl,
      ClientCredentials: accessTtl,
      RefreshToken: 3600,
      Grant: 3600,
      Session: 3600,
      Interaction: 600,
      AuthorizationCode: 60,
      DeviceCode: 600,
      IdToken: 3600,
    },
    features: {
      devInteractions: { enabled: true },
      deviceFlow: { enabled: true },
      clientCredentials: { enabled: true },
      revocation: { enabled: true },
      introspection: { enabled: true },
      userinfo: { enabled: true },
    },
    cookies: { keys: ['switchboard-tests-only-cookie-key'] },
  };
}

function wireEvents(p) {
  p.on('grant.success', (ctx) => {
    const gt = ctx.oidc.params?.grant_type ?? 'unknown';
    stats.success[gt] = (stats.success[gt] ?? 0) + 1;
    stats.outcomes.push({
      grant_type: gt, client_id: ctx.oidc.client?.clientId ?? null, ok: true, at: Date.now(),
    });
  });
  p.on('grant.error', (ctx, err) => {
    const gt = ctx.oidc?.params?.grant_type ?? 'unknown';
    stats.error[gt] = (stats.error[gt] ?? 0) + 1;
    // oidc-provider's generic description; the specific reason is in error_detail.
    if (err?.error_detail === 'refresh token already used') {
      stats.reuse_detected += 1;
    }
    stats.outcomes.push({
      grant_type: gt,
      client_id: ctx.oidc?.client?.clientId ?? null,
      ok: false,
      error: err?.error ?? String(err),
      error_description: err?.error_description ?? null,
      error_detail: err?.error_detail ?? null,
      at: Date.now(),
    });
  });
  p.on('refresh_token.consumed', () => { stats.refresh_tokens_consumed += 1; });
  p.on('grant.revoked', () => { stats.grants_revoked += 1; });
  p.on('access_token.saved', (t) => { stats.issued.access.push(t.jti); });
  p.on('refresh_token.saved', (t) => { stats.issued.refresh.push(t.jti); });
  p.on('client_credentials.saved', (t) => { stats.issued.client_credentials.push(t.jti); });
  p.on('server_error', (_ctx, err) => { process.stderr.write(`server_error: ${err?.stack ?? err}\n`); });
}

async function whoami(req, res) {
  const auth = req.headers.authorization ?? '';
  const value = auth.startsWith('Bearer ') ? auth.slice(7).trim() : undefined;
  if (value) {
    const at = await provider.AccessToken.find(value);
    if (at && !at.isExpired) {
      return json(res, 200, { sub: at.accountId, client_id: at.clientId, scope: at.scope });
    }
    const cc = await provider.ClientCredentials.find(value);
    if (cc && !cc.isExpired) {
      return json(res, 200, { client_id: cc.clientId, scope: cc.scope });
    }
  }
  res.setHeader('www-authenticate', 'Bearer error="invalid_token"');
  return json(res, 401, { error: 'invalid_token' });
}

function json(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => process.exit(0));
}
