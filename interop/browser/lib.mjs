// What the browser scripts share: the output lines, the protocol with the Rust test, Chromium's
// flags, the client's redirect listener, the two sign-in pages ("username first": the username,
// Next; then the password, Sign in), and the watch kept on the browser (console errors, script
// errors, CSP violations, failed requests, every URL asked for).
//
// Output: one `ok` line per checked property, `note` lines for what is expected but worth saying,
// and a `FAIL` line (exit 1) at the first check that does not hold.
import crypto from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import readline from 'node:readline';
import { chromium } from 'playwright-core';

export class CheckFailed extends Error {}

export function ok(message) {
  console.log(`ok    ${message}`);
}

export function note(message) {
  console.log(`note  ${message}`);
}

export function fail(message) {
  throw new CheckFailed(message);
}

export function check(condition, message, detail) {
  if (!condition) fail(detail === undefined ? message : `${message}: ${typeof detail === 'string' ? detail : JSON.stringify(detail)}`);
  ok(message);
}

/** A required environment variable; exits 2 when it is not set. */
export function input(name) {
  const value = process.env[name];
  if (!value) {
    console.log(`FAIL  ${name} is not set`);
    process.exit(2);
  }
  return value;
}

// Chromium as root needs --no-sandbox; the rest keep it off the (closed) network and quiet.
// Playwright adds a fresh, empty --user-data-dir of its own for every launch.
export const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * The client: starts its redirect listener on 127.0.0.1, prints {"redirect_uri": ...}, and reads
 * {"client_id": ...} from standard input (exits 2 without it). The listener answers its redirect
 * URI with a small page and remembers every URL it was sent.
 */
export async function startClient() {
  const hits = [];
  const listener = http.createServer((req, res) => {
    hits.push(req.url);
    const found = new URL(req.url, 'http://x').pathname === '/cb';
    res.writeHead(found ? 200 : 404, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end('<!doctype html><html lang="en"><meta charset="utf-8"><link rel="icon" href="data:,"><title>Test client</title><p>The client has its redirect.</p>');
  });
  await new Promise((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${listener.address().port}`;
  const redirectUri = `${origin}/cb`;
  console.log(JSON.stringify({ redirect_uri: redirectUri }));

  const clientId = await new Promise((resolve) => {
    const rl = readline.createInterface({ input: process.stdin });
    rl.once('line', (line) => {
      resolve(JSON.parse(line).client_id);
      rl.close();
    });
    rl.once('close', () => resolve(undefined));
  });
  if (!clientId) {
    console.log('FAIL  no {"client_id": ...} line on standard input');
    listener.close();
    process.exit(2);
  }
  const redirects = () => hits.filter((h) => h.startsWith('/cb'));
  return {
    origin,
    redirectUri,
    clientId,
    hits,
    /** Every visit to the redirect URI, in order. */
    redirects,
    /** The query of the client's last visit from the browser, from the listener's own log. */
    lastRedirect() {
      const last = redirects().at(-1);
      return last === undefined ? null : new URL(last, origin).searchParams;
    },
    close: () => listener.close(),
  };
}

/**
 * Ward's two sign-in pages, found as a person finds them. Page 1, "Sign in": a Username field and
 * a "Next" button (no password field), and the "Sign in with a passkey" button. Page 2, "Enter
 * password": "Signing in as NAME" with a "Use another account" link, a Password field and a
 * "Sign in" button, then "Sign in with a passkey instead".
 */
export function signInPages(page) {
  return {
    username: page.getByLabel('Username', { exact: true }),
    next: page.getByRole('button', { name: 'Next', exact: true }),
    passwordHeading: page.getByRole('heading', { level: 1, name: 'Enter password', exact: true }),
    signingInAs: page.locator('#signing-in-as'),
    anotherAccount: page.getByRole('link', { name: 'Use another account', exact: true }),
    password: page.getByLabel('Password', { exact: true }),
    passwordInputs: page.locator('input[type=password]'),
    signIn: page.getByRole('button', { name: 'Sign in', exact: true }),
  };
}

/** Is `response` the answer to a POST of one of the sign-in forms (`/T/login`)? */
export const isLoginPost = (tenant) => (response) =>
  response.request().method() === 'POST' && new URL(response.url()).pathname === `/${tenant}/login`;

/**
 * Runs `action` (a click, Enter) that posts a sign-in form; returns Ward's answer to the POST once
 * the page it leads to has loaded (the last page of any redirects).
 */
export async function postLogin(page, tenant, what, action) {
  const [response] = await step(what, () => Promise.all([page.waitForResponse(isLoginPost(tenant)), page.waitForEvent('load'), action()]), page);
  return response;
}

/** The `name` of the focused element once the page's autofocus ran (waits up to `ms` for `expected`). */
export async function focusedName(page, expected, ms = 2000) {
  await page.waitForFunction((n) => document.activeElement?.getAttribute('name') === n, expected, { timeout: ms }).catch(() => {});
  return page.evaluate(() => document.activeElement?.getAttribute('name') ?? `(${document.activeElement?.tagName ?? 'nothing'})`);
}

/** A web app's authorize URL (code flow, `openid profile User.Read`, state=abc). */
export function authorizeUrl(ward, tenant, client) {
  return (
    `${ward}/${encodeURIComponent(tenant)}/oauth2/v2.0/authorize?client_id=${encodeURIComponent(client.clientId)}` +
    `&redirect_uri=${encodeURIComponent(client.redirectUri)}&response_type=code&scope=openid%20profile%20User.Read&state=abc&nonce=n`
  );
}

// What the browser saw: every request, failed loads, console errors, uncaught errors, CSP violations.
export const seen = { requests: [], responses: new Map(), failedRequests: [], problems: [], warnings: [] };
// Console errors a script expects (Chromium logs every 4xx/5xx response as one): each matches once.
const expected = [];

/**
 * Expects `count` console errors whose text matches `pattern`, logged for `pathname` (any when
 * null); each is printed as a note with `why` instead of counting as a problem.
 */
export function expectConsole(pattern, pathname, why, count = 1) {
  for (let i = 0; i < count; i += 1) expected.push({ pattern, pathname, why });
}

/** Waits (up to `ms`) for the expected console errors to come: Chromium reports them a little after the response. */
export async function expectedSeen(ms = 2000) {
  const until = Date.now() + ms;
  while (expected.length > 0 && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 50));
  return expected.length === 0;
}

/** The console errors expected and not seen yet (and forgets them). */
export function unseenExpected() {
  return expected.splice(0, expected.length).map((e) => `${e.pattern} at ${e.pathname ?? 'any path'} (${e.why})`);
}

/** Starts Chromium with FLAGS and `extra`. */
export function launch(executablePath, extra = []) {
  return chromium.launch({ executablePath, headless: true, args: [...FLAGS, ...extra], timeout: 60_000 });
}

/** A new page in `context`; what the browser reports in the context and on the page goes to `seen`. */
export async function watchedPage(context) {
  context.on('request', (r) => seen.requests.push(r.url()));
  context.on('response', (r) => seen.responses.set(r.url(), r));
  context.on('requestfailed', (r) => seen.failedRequests.push(`${r.method()} ${r.url()}: ${r.failure()?.errorText}`));
  // securitypolicyviolation events reach us through a binding; the listener is installed before any
  // page script runs (CDP's init scripts are not subject to the page's CSP).
  await context.exposeBinding('__wardCspViolation', (source, v) => seen.problems.push(`CSP violation on ${source.frame.url()}: ${v}`));
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) =>
      window.__wardCspViolation(`${e.violatedDirective} blocked ${e.blockedURI || '(inline)'} [${e.disposition}]`),
    );
  });
  const page = await context.newPage();
  page.on('console', (m) => {
    const where = m.location()?.url || page.url();
    const text = `${m.type()}: ${m.text()} (at ${where})`;
    if (m.type() === 'warning') seen.warnings.push(text);
    if (m.type() !== 'error') return;
    let pathname = null;
    try {
      pathname = new URL(where).pathname;
    } catch {}
    const i = expected.findIndex((e) => e.pattern.test(m.text()) && (e.pathname === null || e.pathname === pathname));
    if (i >= 0) {
      const [e] = expected.splice(i, 1);
      note(`console ${text}: expected, ${e.why}`);
      return;
    }
    if (/status of 404/.test(m.text()) && pathname === '/favicon.ico') {
      seen.problems.push(
        `console ${text}: browsers ask every site for /favicon.ico unless the page links an icon; ` +
          `Ward neither serves one nor links one (a <link rel="icon"> to a file under /static/ would satisfy the CSP)`,
      );
      return;
    }
    seen.problems.push(`console ${text}`);
  });
  page.on('pageerror', (e) => seen.problems.push(`uncaught script error: ${e.message}`));
  return page;
}

/** Fails if the browser reported anything wrong since the last call. */
export function noProblems(when) {
  check(seen.problems.length === 0, `no console error, script error or CSP violation ${when}`, seen.problems.join('\n      '));
  check(seen.failedRequests.length === 0, `no failed request ${when}`, seen.failedRequests.join('\n      '));
}

/** Runs a browser action; an error becomes a failure that says where the page was, what it said and what the browser reported. */
export async function step(what, action, page) {
  try {
    return await action();
  } catch (e) {
    if (e instanceof CheckFailed) throw e;
    // A blocked navigation aborts at once; the browser's report of why (console, CSP event) follows.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const where = page ? ` (the page is at ${page.url()})` : '';
    let said = '';
    if (page) {
      const text = await page
        .locator('main')
        .first()
        .innerText({ timeout: 1000 })
        .catch(() => '');
      if (text) said = `; the page says: ${JSON.stringify(text.replace(/\s+/g, ' ').slice(0, 600))}`;
    }
    const reported = [...seen.problems, ...seen.failedRequests.map((f) => `failed request ${f}`)];
    const also = reported.length ? `; the browser reported:\n      ${reported.join('\n      ')}` : '';
    // Playwright's message ends with a call log (what it waited for, the browser's own log): keep it.
    fail(`${what}${where}: ${e.message.trim().slice(0, 2000)}${said}${also}`);
  }
}

/** Runs `main`, turns its failure into a FAIL line, closes the browser and the client, exits. */
export async function run(main, cleanup) {
  let status = 0;
  try {
    await main();
  } catch (e) {
    console.log(e instanceof CheckFailed ? `FAIL  ${e.message}` : `FAIL  ${e.stack ?? e}`);
    status = 1;
  } finally {
    await cleanup().catch(() => {});
  }
  process.exit(status);
}

// RFC 6238 (SHA-1, 6 digits, 30 s steps) from the base32 secret an enrollment page shows.
export function base32(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of text.replace(/[\s=]/g, '').toUpperCase()) {
    const v = alphabet.indexOf(c);
    if (v < 0) throw new Error(`not base32: ${JSON.stringify(text)}`);
    bits += v.toString(2).padStart(5, '0');
  }
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

function totp(key, step) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = crypto.createHmac('sha1', key).update(counter).digest();
  const at = mac[mac.length - 1] & 0x0f;
  return String((mac.readUInt32BE(at) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

export const nowStep = () => Math.floor(Date.now() / 30_000);

/**
 * A source of codes Ward has not seen yet, for one authenticator: each call gives the current
 * step's code or the next one's (±1 step is accepted), waiting for a later step when both were used.
 */
export function totpCodes() {
  let lastStep = -1;
  return async (key) => {
    let s = Math.max(nowStep(), lastStep + 1);
    if (s > nowStep() + 1) {
      const wait = (nowStep() + 1) * 30_000 - Date.now() + 200;
      note(`waiting ${Math.ceil(wait / 1000)} s for the next TOTP time step`);
      await new Promise((resolve) => setTimeout(resolve, wait));
      s = Math.max(nowStep(), lastStep + 1);
    }
    lastStep = s;
    return { code: totp(key, s), step: s };
  };
}

/** A full-page screenshot `name`.png in `dir`; returns its path. */
export async function shoot(page, dir, name) {
  const file = path.join(dir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/**
 * After a sign-in on an authorize URL of `client` (from startClient): consent when asked (after
 * `onConsent(page)`), then the client's redirect with state=abc and a code, which the client's
 * listener received. Returns the code.
 */
export async function arriveAtClient(page, client, what, onConsent) {
  const before = client.redirects().length;
  // The sign-in page itself is at the authorize URL: wait for the client, or a consent page.
  const consent = page.getByRole('heading', { name: 'Permissions requested' });
  const where = await step(
    `waiting for the client's redirect or the consent page after ${what}`,
    () =>
      Promise.race([
        page.waitForURL((u) => u.origin === client.origin).then(() => 'client'),
        consent.waitFor().then(() => 'consent'),
      ]),
    page,
  );
  if (where === 'consent') {
    ok(`${what}: the consent page`);
    await onConsent(page);
    noProblems('on the consent page');
    await step(
      'clicking Accept and following the redirect to the client',
      () => Promise.all([page.waitForURL((u) => u.origin === client.origin), page.getByRole('button', { name: 'Accept' }).click()]),
      page,
    );
  }
  const landed = new URL(page.url());
  check(landed.origin === client.origin && landed.pathname === '/cb', `${what}: the browser is at the client’s redirect`, page.url());
  check(landed.searchParams.get('state') === 'abc' && !landed.searchParams.has('error'), `${what}: state=abc came back, no error`, page.url());
  const code = landed.searchParams.get('code');
  const got = client.redirects().slice(before);
  check(code && got.length === 1 && new URL(got[0], client.origin).searchParams.get('code') === code, `${what}: the client’s listener received a code`, got);
  return code;
}
