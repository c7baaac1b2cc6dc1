// A scripted browser for tests/oidc_provider.rs, used as `$BROWSER`:
//
//   node browser.mjs AUTHORIZATION_URL
//
// Follows redirects by hand (fetch with redirect: 'manual'), keeps cookies in a small jar, fills
// oidc-provider's development login form (any login) and consent form, and finally GETs the
// redirect to switchboard's loopback callback. Exits 0 once the callback answered 200.
//
// It can also confirm a device flow user code: `node browser.mjs --device VERIFICATION_URL CODE`
// (the verification URL without the code; the code is typed into oidc-provider's form).
//
// OIDC_BROWSER_LOG=path appends a trace of every step (switchboard discards $BROWSER's output).
import { appendFileSync } from 'node:fs';

const LOGIN = process.env.OIDC_BROWSER_LOGIN ?? 'operator';
const MAX_STEPS = 30;
const STEP_TIMEOUT_MS = 15000;

function log(line) {
  if (process.env.OIDC_BROWSER_LOG) {
    appendFileSync(process.env.OIDC_BROWSER_LOG, `${new Date().toISOString()} ${line}\n`);
  }
}

function fail(message) {
  log(`FAIL ${message}`);
  process.stderr.write(`browser.mjs: ${message}\n`);
  process.exit(1);
}

// Cookies keyed by name and path; every request here goes to one host (127.0.0.1).
const jar = new Map();

function storeCookies(res, url) {
  for (const header of res.headers.getSetCookie()) {
    const [pair, ...attrs] = header.split(';');
    const eq = pair.indexOf('=');
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    let path = '/';
    let expired = false;
    for (const attr of attrs) {
      const [k, v = ''] = attr.split('=');
      const key = k.trim().toLowerCase();
      if (key === 'path') path = v.trim() || '/';
      if (key === 'max-age' && Number(v) <= 0) expired = true;
      if (key === 'expires' && Date.parse(v) < Date.now()) expired = true;
    }
    const id = `${name}\u0000${path}`;
    if (expired || value === '') jar.delete(id);
    else jar.set(id, { name, value, path });
    log(`cookie ${expired ? 'drop' : 'set'} ${name} path=${path} from ${url.pathname}`);
  }
}

function cookieHeader(url) {
  const parts = [];
  for (const { name, value, path } of jar.values()) {
    const prefix = path.endsWith('/') ? path : `${path}/`;
    if (url.pathname === path || url.pathname.startsWith(prefix) || path === '/') {
      parts.push(`${name}=${value}`);
    }
  }
  return parts.join('; ');
}

async function request(method, url, body) {
  const headers = { accept: 'text/html' };
  const cookie = cookieHeader(url);
  if (cookie) headers.cookie = cookie;
  if (body) headers['content-type'] = 'application/x-www-form-urlencoded';
  log(`${method} ${url.origin}${url.pathname}`);
  const res = await fetch(url, {
    method,
    headers,
    body,
    redirect: 'manual',
    signal: AbortSignal.timeout(STEP_TIMEOUT_MS),
  });
  storeCookies(res, url);
  const text = await res.text();
  log(`-> ${res.status}${res.headers.get('location') ? ` location=${res.headers.get('location').split('?')[0]}` : ''}`);
  return { res, text };
}

function decodeEntities(s) {
  return s.replace(/&amp;/g, '&').replace(/&#x2F;/g, '/').replace(/&#x3D;/g, '=')
    .replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>');
}

// The first form on the page: its action and its inputs (name -> value).
function parseForm(html) {
  const form = html.match(/<form\b[^>]*\baction="([^"]*)"[^>]*>([\s\S]*?)<\/form>/i);
  if (!form) return undefined;
  const inputs = {};
  for (const m of form[2].matchAll(/<input\b([^>]*)>/gi)) {
    const name = m[1].match(/\bname="([^"]*)"/i)?.[1];
    const value = m[1].match(/\bvalue="([^"]*)"/i)?.[1] ?? '';
    if (name) inputs[name] = decodeEntities(value);
  }
  return { action: decodeEntities(form[1]), inputs };
}

function isCallback(url, authServer) {
  return url.origin !== authServer.origin && url.pathname === '/callback';
}

async function run(start, deviceCode) {
  const authServer = new URL(start);
  let url = authServer;
  let method = 'GET';
  let body;
  for (let step = 0; step < MAX_STEPS; step += 1) {
    const { res, text } = await request(method, url, body);
    method = 'GET';
    body = undefined;
    if (isCallback(url, authServer)) {
      if (res.status !== 200) fail(`the callback answered ${res.status}: ${text.slice(0, 300)}`);
      log('done: the callback answered 200');
      return;
    }
    if (res.status >= 300 && res.status < 400) {
      url = new URL(res.headers.get('location'), url);
      continue;
    }
    if (res.status !== 200) fail(`${url.pathname} answered ${res.status}: ${text.slice(0, 300)}`);
    const form = parseForm(text);
    if (!form) {
      if (deviceCode && /success|sign-in|signed in|return to your device/i.test(text)) {
        log('done: the device flow was confirmed');
        return;
      }
      fail(`no form at ${url.pathname}: ${text.slice(0, 300)}`);
    }
    const fields = { ...form.inputs };
    if (fields.prompt === 'login') {
      fields.login = LOGIN;
      fields.password = 'any';
    } else if ('user_code' in fields && deviceCode) {
      fields.user_code = deviceCode;
    } else if ('confirm' in fields || fields.prompt === 'consent') {
      // Consent, or the device flow's "is this your device?" confirmation.
    } else {
      fail(`an unknown form at ${url.pathname}: ${JSON.stringify(Object.keys(fields))}`);
    }
    if ('abort' in fields) delete fields.abort;
    url = new URL(form.action, url);
    method = 'POST';
    body = new URLSearchParams(fields).toString();
  }
  fail(`no callback after ${MAX_STEPS} steps`);
}

const args = process.argv.slice(2);
const device = args[0] === '--device';
const start = device ? args[1] : args[0];
if (!start) fail('usage: browser.mjs AUTHORIZATION_URL | --device VERIFICATION_URL USER_CODE');
run(start, device ? args[2] : undefined).catch((e) => fail(e?.stack ?? String(e)));
