// Ward's person-facing pages in a real browser: Debian's chromium, driven by playwright-core.
//
// Run by crates/ward/tests/browser.rs. Protocol with the test, over standard input and output:
//   1. this script starts the client's redirect listener (http://127.0.0.1:PORT/cb) and prints
//      one JSON line {"redirect_uri": "..."};
//   2. the test registers a web app for that URI and writes one JSON line {"client_id": "..."};
//   3. this script drives the browser and prints one `ok` line per checked property, or a `FAIL`
//      line and exits 1 at the first that does not hold.
// Environment: WARD_URL (Ward's origin, http://127.0.0.1:PORT), WARD_TENANT, WARD_USERNAME,
// WARD_PASSWORD, WARD_SCREENSHOT_DIR (where sign-in.png and the others go), WARD_CHROMIUM (default
// /usr/bin/chromium).
//
// Ward signs in "username first": page 1 ("Sign in") asks for the username and has a "Next"
// button; page 2 ("Enter password", "Signing in as NAME") asks for the password and has "Sign in".
import fs from 'node:fs';
import path from 'node:path';
import {
  authorizeUrl,
  check,
  expectConsole,
  focusedName,
  input,
  launch,
  noProblems,
  ok,
  postLogin,
  run,
  seen,
  signInPages,
  startClient,
  step,
  watchedPage,
} from './lib.mjs';

const WARD = new URL(input('WARD_URL')).origin;
const TENANT = input('WARD_TENANT');
const USERNAME = input('WARD_USERNAME');
const PASSWORD = input('WARD_PASSWORD');
const SHOTS = input('WARD_SCREENSHOT_DIR');
const CHROMIUM = process.env.WARD_CHROMIUM || '/usr/bin/chromium';

// The client's redirect listener; prints the redirect URI, reads the client id.
const client = await startClient();
const CLIENT = client.origin;
const AUTHORIZE = authorizeUrl(WARD, TENANT, client);
const { requests, responses } = seen;
const lastRedirect = client.lastRedirect;

let browser;

async function main() {
  browser = await step('launching ' + CHROMIUM, () => launch(CHROMIUM));
  ok(`chromium ${browser.version()} started from ${CHROMIUM}`);
  const context = await browser.newContext({ locale: 'en-US', viewport: { width: 1000, height: 720 } });
  context.setDefaultTimeout(20_000);
  context.setDefaultNavigationTimeout(20_000);
  const page = await watchedPage(context);

  // 1. The app sends the person to Ward.
  const first = await step('opening the authorize URL', () => page.goto(AUTHORIZE), page);
  check(first.status() === 200, 'the authorize URL answers 200 with a page', `status ${first.status()}`);
  check(new URL(page.url()).origin === WARD, 'the sign-in page is on Ward’s origin', page.url());

  // 2. The sign-in page, page 1: the username.
  const lang = await page.locator('html').getAttribute('lang');
  check(/^[a-z]{2,3}(-[A-Za-z0-9]+)*$/.test(lang ?? ''), `<html lang="${lang}">`, String(lang));
  const title = await page.title();
  check(title.trim().length > 0, `the page has a <title>: "${title}"`, title);
  const heading = page.getByRole('heading', { level: 1 });
  check((await heading.count()) === 1, `one level-1 heading: "${await heading.first().textContent()}"`);
  const { username, next, password, passwordInputs, passwordHeading, signingInAs, signIn } = signInPages(page);
  check((await username.count()) === 1 && (await username.isEditable()), 'the Username field is found by its label and editable');
  check((await next.count()) === 1, 'a "Next" button, by its accessible name');
  check(
    (await password.count()) === 0 && (await passwordInputs.count()) === 0,
    'no Password field on the first page (username first)',
    `${await passwordInputs.count()} password input(s)`,
  );
  const focused1 = await focusedName(page, 'username');
  check(focused1 === 'username', 'the Username field has the focus on load', focused1);
  const csp = first.headers()['content-security-policy'] ?? '';
  check(csp.includes('default-src') && csp.includes('form-action'), `the page has a Content-Security-Policy: ${csp}`, csp);

  const sheets = await page.evaluate(() =>
    [...document.styleSheets].map((s) => {
      let rules = -1;
      try {
        rules = s.cssRules.length;
      } catch {}
      return { href: s.href, rules };
    }),
  );
  const ward = sheets.find((s) => s.href === `${WARD}/static/ward.css`);
  check(ward && ward.rules > 0, `the stylesheet ${WARD}/static/ward.css is loaded (${ward?.rules} rules)`, sheets);
  check(sheets.every((s) => s.href !== null), 'no inline <style> (the CSP allows none)', sheets);
  const css = responses.get(`${WARD}/static/ward.css`);
  check(
    css && css.status() === 200 && (css.headers()['content-type'] ?? '').startsWith('text/css'),
    'the browser got the stylesheet as text/css',
    css ? `${css.status()} ${css.headers()['content-type']}` : 'no response recorded',
  );
  // Applied, not only fetched: the browser's default 8px body margin is gone.
  const margin = await page.evaluate(() => getComputedStyle(document.body).margin);
  check(margin === '0px', 'the stylesheet is applied (body margin 0)', margin);
  noProblems('on the sign-in page');

  fs.mkdirSync(SHOTS, { recursive: true });
  const shot = path.join(SHOTS, 'sign-in.png');
  await page.screenshot({ path: shot, fullPage: true });
  ok(`screenshot of the sign-in page: ${shot}`);

  // 3. The username typed from the keyboard (the field has the focus), Enter: page 2, the password.
  await page.keyboard.type(USERNAME);
  const named = await postLogin(page, TENANT, 'submitting the username with Enter', () => page.keyboard.press('Enter'));
  check(named.status() === 200, `Enter submitted the username: POST ${new URL(named.url()).pathname} answered ${named.status()}`, named.status());
  await step('waiting for the "Enter password" heading', () => passwordHeading.waitFor(), page);
  const title2 = await page.title();
  check(
    (await page.getByRole('heading', { level: 1 }).count()) === 1 && title2.trim().length > 0,
    `the password page: one level-1 heading "Enter password", <title> "${title2}"`,
  );
  const as = ((await signingInAs.textContent()) ?? '').trim();
  check(as === USERNAME && (await page.getByText('Signing in as').count()) >= 1, `"Signing in as ${as}"`, as);
  check((await password.count()) === 1 && (await password.isEditable()), 'the Password field is found by its label and editable');
  check((await password.getAttribute('type')) === 'password', 'the Password field hides what is typed');
  const focused2 = await focusedName(page, 'password');
  check(focused2 === 'password', 'the Password field has the focus on load (document.activeElement)', focused2);
  check((await signIn.count()) === 1, 'a "Sign in" button, by its accessible name');
  check((await username.count()) === 0, 'no Username field to retype on the password page');
  noProblems('on the password page');
  await page.screenshot({ path: path.join(SHOTS, 'sign-in-password.png'), fullPage: true });
  ok(`screenshot of the password page: ${path.join(SHOTS, 'sign-in-password.png')}`);

  // 4. A wrong password, typed and submitted from the keyboard.
  await page.keyboard.type('not-the-password');
  // Chromium logs every 4xx/5xx response as a console error, the page's own included. Ward
  // answers a wrong password with 401 and the password page again, on purpose (tests/oidc.rs
  // asserts it); that one response is expected, and announced with a note.
  expectConsole(/status of 401/, `/${TENANT}/login`, 'Ward answers a wrong password with 401');
  const wrong = await postLogin(page, TENANT, 'submitting a wrong password with Enter', () => page.keyboard.press('Enter'));
  check(wrong.status() === 401, `Enter submitted the form: POST ${new URL(wrong.url()).pathname} answered ${wrong.status()}`, wrong.status());
  const alert = page.getByRole('alert').filter({ visible: true });
  await step('waiting for an element with role=alert', () => alert.first().waitFor({ state: 'visible' }), page);
  check((await alert.count()) === 1, 'one visible role=alert', await alert.allTextContents());
  const alertText = (await alert.textContent()).trim();
  check(alertText.length > 0, `role=alert says: "${alertText}"`);
  const alertId = await alert.getAttribute('id');
  const described = await password.getAttribute('aria-describedby');
  check(alertId && described === alertId, 'the Password field is described by the alert (aria-describedby)', { alertId, described });
  const againAs = ((await signingInAs.textContent().catch(() => '')) ?? '').trim();
  check((await passwordHeading.count()) === 1 && againAs === USERNAME, `still on the password page, signing in as ${againAs}`, againAs);
  const cookiesAfterWrong = await context.cookies(WARD);
  check(!cookiesAfterWrong.some((c) => c.name === 'ward_session'), 'no session cookie after a wrong password', cookiesAfterWrong.map((c) => c.name));
  await page.screenshot({ path: path.join(SHOTS, 'sign-in-error.png'), fullPage: true });
  noProblems('after the wrong password');

  // 5. The right password, then consent.
  await password.fill(PASSWORD);
  await signIn.click();
  await step(
    'waiting for the consent page ("Permissions requested")',
    () => page.getByRole('heading', { name: 'Permissions requested' }).waitFor(),
    page,
  );
  ok(`signed in; the consent page: "${await page.title()}" at ${new URL(page.url()).pathname}`);
  const session = (await context.cookies(WARD)).find((c) => c.name === 'ward_session');
  check(session && session.httpOnly && session.sameSite === 'Lax', 'a session cookie, HttpOnly and SameSite=Lax', session);
  const listed = await page.locator('main li').allTextContents();
  check(listed.some((t) => t.includes('User.Read')), `the consent page lists the permissions: ${listed.join('; ')}`, listed);
  await page.screenshot({ path: path.join(SHOTS, 'consent.png'), fullPage: true });
  noProblems('on the consent page');

  // 6. Accept: the browser follows Ward's redirect to the client (the CSP's form-action allows it).
  await step(
    'clicking Accept and following the redirect to the client',
    () => Promise.all([page.waitForURL((u) => u.origin === CLIENT), page.getByRole('button', { name: 'Accept' }).click()]),
    page,
  );
  const landed = new URL(page.url());
  check(landed.pathname === '/cb', `the browser is at the client: ${landed.origin}${landed.pathname}`, page.url());
  check(landed.searchParams.get('state') === 'abc', 'state=abc came back', page.url());
  check(!landed.searchParams.has('error'), 'no error came back', page.url());
  const code = landed.searchParams.get('code');
  check(code && code.length > 0, 'a code came back', page.url());
  check(lastRedirect()?.get('code') === code, 'the client’s listener itself received that code');
  noProblems('after consent');

  // 7. Again in the same browser: single sign-on and remembered consent, straight to the client.
  const committed = [];
  const onNav = (frame) => frame === page.mainFrame() && committed.push(frame.url());
  page.on('framenavigated', onNav);
  const again = await step('opening the authorize URL again', () => page.goto(AUTHORIZE), page);
  page.off('framenavigated', onNav);
  const back = new URL(page.url());
  check(back.origin === CLIENT && back.pathname === '/cb', 'the second visit goes straight to the client', committed);
  check(!committed.some((u) => new URL(u).origin === WARD), 'no Ward page was shown on the way (no sign-in, no consent)', committed);
  let hop = again.request();
  let hops = 0;
  while (hop.redirectedFrom()) {
    hop = hop.redirectedFrom();
    hops += 1;
  }
  check(hop.url() === AUTHORIZE && hops >= 1, `one redirect chain from the authorize URL (${hops} redirect${hops === 1 ? '' : 's'})`, hop.url());
  check(back.searchParams.get('state') === 'abc', 'state=abc came back again', page.url());
  const code2 = back.searchParams.get('code');
  check(code2 && code2 !== code, 'a new code came back', page.url());
  check(lastRedirect()?.get('code') === code2, 'the client’s listener received the new code');
  noProblems('on the second visit');

  // Nothing but Ward and the client was ever asked for anything.
  const foreign = requests.filter((u) => !u.startsWith(`${WARD}/`) && !u.startsWith(`${CLIENT}/`));
  check(foreign.length === 0, `no request left Ward and the client (${requests.length} requests in all)`, foreign);
  for (const w of seen.warnings) console.log(`note  console ${w}`);
  await browser.close();
}

await run(main, async () => {
  await browser?.close().catch(() => {});
  client.close();
});
