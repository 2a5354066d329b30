// Conditional access in a real browser: with security defaults off and a policy requiring MFA for
// every app (set up by the test), a person who signed in with the password alone and has an
// authenticator app is asked, before the app gets its code, for the app's code on Ward's page,
// and then lands at the app. Debian's chromium, driven by playwright-core, as in sign_in.mjs.
//
// Protocol with the test, over standard input and output (the same as sign_in.mjs): this script
// prints {"redirect_uri": ...}, reads {"client_id": ...}, then prints `ok` lines, or a `FAIL` line
// and exits 1. Environment: WARD_URL, WARD_TENANT, WARD_USERNAME and WARD_PASSWORD (a user with
// no method but the password), WARD_SCREENSHOT_DIR (conditional-access-*.png), WARD_CHROMIUM.
import fs from 'node:fs';
import {
  arriveAtClient,
  authorizeUrl,
  base32,
  check,
  expectConsole,
  expectedSeen,
  input,
  launch,
  noProblems,
  ok,
  postLogin,
  run,
  seen,
  shoot,
  signInPages,
  startClient,
  step,
  totpCodes,
  unseenExpected,
  watchedPage,
} from './lib.mjs';

const WARD = new URL(input('WARD_URL')).origin;
const TENANT = input('WARD_TENANT');
const USERNAME = input('WARD_USERNAME');
const PASSWORD = input('WARD_PASSWORD');
const SHOTS = input('WARD_SCREENSHOT_DIR');
const CHROMIUM = process.env.WARD_CHROMIUM || '/usr/bin/chromium';
const SECURITY_INFO = `${WARD}/${TENANT}/mysecurityinfo`;

const client = await startClient();
const AUTHORIZE = authorizeUrl(WARD, TENANT, client);
const freshCode = totpCodes();
let browser;

async function main() {
  fs.mkdirSync(SHOTS, { recursive: true });
  browser = await step('launching ' + CHROMIUM, () => launch(CHROMIUM));
  const context = await browser.newContext({ locale: 'en-US', viewport: { width: 1000, height: 720 } });
  context.setDefaultTimeout(15_000);
  context.setDefaultNavigationTimeout(15_000);
  const page = await watchedPage(context);
  const { username, next, password, passwordHeading, signIn } = signInPages(page);

  // The password alone signs in to "My security info" (security defaults off), where the first
  // method may be added with it.
  await step('opening the security-info page', () => page.goto(SECURITY_INFO), page);
  await username.fill(USERNAME);
  await postLogin(page, TENANT, 'the username, Next', () => next.click());
  await step('waiting for the "Enter password" page', () => passwordHeading.waitFor(), page);
  await password.fill(PASSWORD);
  const signedIn = await postLogin(page, TENANT, 'signing in with the password', () => signIn.click());
  check(signedIn.status() === 303, `the password alone signs in to the security-info page (${signedIn.status()})`, signedIn.status());
  await step(
    'following "Add an authenticator app"',
    () => Promise.all([page.waitForURL(`${SECURITY_INFO}/authenticator`), page.getByRole('link', { name: 'Add an authenticator app' }).click()]),
    page,
  );
  const key = base32((await page.locator('#secret').textContent()).trim());
  await page.getByLabel('Name it', { exact: true }).fill('Phone');
  await page.getByLabel('Code from the app', { exact: true }).fill((await freshCode(key)).code);
  await step(
    'adding the authenticator app',
    () => Promise.all([page.waitForURL(SECURITY_INFO), page.getByRole('button', { name: 'Add', exact: true }).click()]),
    page,
  );
  ok('an authenticator app added on the security-info page, with the password-only session');
  // Let the page finish loading (its icon) before leaving it.
  await page.waitForLoadState('networkidle');

  // The app: its policy requires MFA, so this password-only session is asked for the code first.
  const asked = await step('opening the app’s authorize URL', () => page.goto(AUTHORIZE), page);
  const codeField = page.getByLabel('Code', { exact: true });
  await step('waiting for the code page', () => codeField.waitFor(), page);
  check(asked.status() === 200 && (await page.title()).includes('Enter code'), `the app’s sign-in steps up: "${await page.title()}"`, asked.status());
  check(new URL(page.url()).pathname === `/${TENANT}/oauth2/v2.0/authorize`, 'the code is asked on the authorize request itself, no detour');
  check((await codeField.getAttribute('autocomplete')) === 'one-time-code', 'the Code field has autocomplete=one-time-code');
  await shoot(page, SHOTS, 'conditional-access-step-up');
  noProblems('on the step-up page');
  expectConsole(/status of 401/, `/${TENANT}/login/otp`, 'Ward answers a wrong code with 401');
  await codeField.fill('000000');
  await step('a wrong code', () => Promise.all([page.waitForEvent('load'), page.getByRole('button', { name: 'Verify' }).click()]), page);
  const alert = page.getByRole('alert');
  check((await alert.count()) === 1 && /not right/.test(await alert.textContent()), 'a wrong code is said to be wrong, the form kept', await alert.allTextContents());
  check(await expectedSeen(), 'the wrong code’s 401 was the only console error', unseenExpected());
  await codeField.fill((await freshCode(key)).code);
  await page.getByRole('button', { name: 'Verify' }).click();
  await arriveAtClient(page, client, 'the step-up with the authenticator app', (p) => shoot(p, SHOTS, 'conditional-access-consent'));
  noProblems('after the step-up');
  const foreign = seen.requests.filter((u) => !u.startsWith(`${WARD}/`) && !u.startsWith(`${client.origin}/`));
  check(foreign.length === 0, 'no request left Ward and the app (no CDN)', foreign);
}

run(main, async () => {
  await browser?.close();
  client.close();
});
