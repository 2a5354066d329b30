// Ward's other ways to sign in, in a real browser: an authenticator app (TOTP), a passkey (through
// Chromium's virtual authenticator, over CDP), a passkey whose user is not verified, and lockout.
// Debian's chromium, driven by playwright-core, as in sign_in.mjs.
//
// Protocol with the test, over standard input and output (the same as sign_in.mjs):
//   1. this script starts the client's redirect listener (http://127.0.0.1:PORT/cb) and prints
//      one JSON line {"redirect_uri": "..."};
//   2. the test registers a web app for that URI and writes one JSON line {"client_id": "..."};
//   3. this script drives the browser and prints one `ok` line per checked property, or a `FAIL`
//      line and exits 1 at the first that does not hold.
// Environment: WARD_URL (Ward's public origin, http://localhost:PORT: WebAuthn needs a domain as
// its relying party id, so not 127.0.0.1), WARD_TENANT, WARD_USERNAME and WARD_PASSWORD (a user
// with no sign-in method but the password: it gets an authenticator app and a passkey here),
// WARD_LOCKOUT_USERNAME and WARD_LOCKOUT_PASSWORD (another user, locked out here),
// WARD_SCREENSHOT_DIR (where sign-in-methods-*.png go), WARD_CHROMIUM (default /usr/bin/chromium).
//
// Ward signs in "username first": a password sign-in is the username, "Next", then the password on
// the "Enter password" page, "Sign in". A passkey sign-in starts from the first page, no username.
import fs from 'node:fs';
import {
  arriveAtClient,
  authorizeUrl,
  base32,
  check,
  expectConsole,
  expectedSeen,
  focusedName,
  input,
  launch,
  noProblems,
  note,
  nowStep,
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
const LOCKOUT_USERNAME = input('WARD_LOCKOUT_USERNAME');
const LOCKOUT_PASSWORD = input('WARD_LOCKOUT_PASSWORD');
const SHOTS = input('WARD_SCREENSHOT_DIR');
const CHROMIUM = process.env.WARD_CHROMIUM || '/usr/bin/chromium';
// Ward listens on IPv4 loopback only, and the browser must call it `localhost`: WebAuthn's relying
// party id is a domain, and http://localhost is a secure context.
const RESOLVE_LOCALHOST = '--host-resolver-rules=MAP localhost 127.0.0.1';
const SECURITY_INFO = `${WARD}/${TENANT}/mysecurityinfo`;

// The client's redirect listener; prints the redirect URI, reads the client id.
const client = await startClient();
const CLIENT = client.origin;
const AUTHORIZE = authorizeUrl(WARD, TENANT, client);
const clientHits = client.redirects;
const freshCode = totpCodes();

let browser;

let shotCount = 0;
async function screenshot(page, name) {
  shotCount += 1;
  return shoot(page, SHOTS, `sign-in-methods-${name}`);
}

const landAtClient = (page, what) => arriveAtClient(page, client, what, (p) => screenshot(p, 'consent'));

/** The sign-in methods and recent sign-ins listed on the security-info page the browser shows. */
async function securityInfo(page) {
  const methods = (await page.locator('main li').allInnerTexts()).map((t) => t.replace(/\s+/g, ' ').trim());
  const sessions = await page.locator('main table tbody tr').evaluateAll((rows) =>
    rows.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent.trim())),
  );
  return { methods, sessions };
}

async function main() {
  fs.mkdirSync(SHOTS, { recursive: true });
  const started = Date.now();
  browser = await step('launching ' + CHROMIUM, () => launch(CHROMIUM, [RESOLVE_LOCALHOST]));
  ok(`chromium ${browser.version()} started from ${CHROMIUM}`);
  const context = await browser.newContext({ locale: 'en-US', viewport: { width: 1000, height: 720 } });
  context.setDefaultTimeout(15_000);
  context.setDefaultNavigationTimeout(15_000);
  const page = await watchedPage(context);

  const { username, next, password, passwordInputs, passwordHeading, signingInAs, anotherAccount, signIn } = signInPages(page);

  /** Page 1: `name` in the Username field, Next; checks that page 2 asks for the password as `name`. */
  async function enterUsername(name, what) {
    await username.fill(name);
    const r = await postLogin(page, TENANT, `${what}: the username, Next`, () => next.click());
    check(r.status() === 200, `${what}: the username answered ${r.status()} with the password page`, r.status());
    await step(`${what}: waiting for the "Enter password" page`, () => passwordHeading.waitFor(), page);
    const as = ((await signingInAs.textContent()) ?? '').trim();
    check(as === name && (await password.count()) === 1, `${what}: "Signing in as ${as}", a Password field`, as);
  }

  // 1. An authenticator app: added on the security-info page, then asked for after the password.
  const portal = await step('opening the security-info page', () => page.goto(SECURITY_INFO), page);
  check(
    portal.status() === 200 && (await username.count()) === 1 && (await next.count()) === 1 && (await passwordInputs.count()) === 0,
    'the security-info page asks for a sign-in first: Username and Next, no password yet',
    `status ${portal.status()}`,
  );
  await enterUsername(USERNAME, 'security-info sign-in');
  // "Use another account" goes back to the first page, the Username field empty.
  await step('following "Use another account"', () => Promise.all([page.waitForEvent('load'), anotherAccount.click()]), page);
  await step('waiting for the Username field', () => username.waitFor(), page);
  check(
    (await username.inputValue()) === '' && (await passwordInputs.count()) === 0 && (await next.count()) === 1,
    `"Use another account" leads back to the first page (${new URL(page.url()).pathname}): an empty Username field, Next, no password`,
    { value: await username.inputValue(), passwords: await passwordInputs.count() },
  );
  noProblems('after "Use another account"');
  await enterUsername(USERNAME, 'security-info sign-in');
  await screenshot(page, 'password');
  await password.fill(PASSWORD);
  const portalSignIn = await postLogin(page, TENANT, 'signing in to the security-info page', () => signIn.click());
  check(portalSignIn.status() === 303, `the password is accepted: POST /${TENANT}/login answered ${portalSignIn.status()}`, portalSignIn.status());
  await step('waiting for "Add an authenticator app"', () => page.getByRole('link', { name: 'Add an authenticator app' }).waitFor(), page);
  ok(`signed in with the password: "${await page.title()}" at ${new URL(page.url()).pathname}`);
  noProblems('on the security-info page');

  await step(
    'following "Add an authenticator app"',
    () => Promise.all([page.waitForURL(`${SECURITY_INFO}/authenticator`), page.getByRole('link', { name: 'Add an authenticator app' }).click()]),
    page,
  );
  const qr = page.getByRole('img', { name: /QR code/ });
  check((await qr.count()) === 1 && (await qr.locator('svg').count()) === 1, 'the enrollment page shows a QR code as inline SVG');
  const shown = (await page.locator('#secret').textContent()).trim();
  check(/^[A-Z2-7]{4}( [A-Z2-7]{1,4})+$/.test(shown), `the secret is shown in groups of four: ${shown.slice(0, 9)}…`, shown);
  const key = base32(shown);
  check(key.length >= 16, `the secret is ${key.length * 8} bits`, key.length);
  await screenshot(page, 'authenticator-add');
  noProblems('on the enrollment page');
  const enrollCode = await freshCode(key);
  await page.getByLabel('Name it', { exact: true }).fill('Browser test app');
  await page.getByLabel('Code from the app', { exact: true }).fill(enrollCode.code);
  await step(
    'adding the authenticator app with its current code',
    () => Promise.all([page.waitForURL(SECURITY_INFO), page.getByRole('button', { name: 'Add', exact: true }).click()]),
    page,
  );
  let info = await securityInfo(page);
  check(
    info.methods.some((t) => t.includes('Browser test app') && t.includes('authenticator app, added')),
    'the authenticator app is listed on the security-info page',
    info.methods,
  );
  noProblems('after adding the authenticator app');

  await context.clearCookies();
  const login = await step('opening the authorize URL', () => page.goto(AUTHORIZE), page);
  check(login.status() === 200 && (await username.count()) === 1, 'with the cookies cleared, the authorize URL shows the sign-in page', `status ${login.status()}`);
  await enterUsername(USERNAME, 'authorize sign-in');
  await password.fill(PASSWORD);
  const passwordStep = await postLogin(page, TENANT, 'signing in with the password', () => signIn.click());
  check(passwordStep.status() === 200, `the password is accepted with a page: POST /${TENANT}/login answered ${passwordStep.status()}`, passwordStep.status());
  const codeField = page.getByLabel('Code', { exact: true });
  await step('waiting for the "Enter code" page', () => codeField.waitFor(), page);
  check((await page.title()).includes('Enter code'), `after the password, the code page: "${await page.title()}"`, await page.title());
  check((await codeField.getAttribute('autocomplete')) === 'one-time-code', 'the Code field has autocomplete=one-time-code');
  await screenshot(page, 'enter-code');
  noProblems('on the code page');
  const signInCode = await freshCode(key);
  await codeField.fill(signInCode.code);
  note(`TOTP: enrolled with the code of step ${enrollCode.step}, signed in with step ${signInCode.step} (now ${nowStep()})`);
  await page.getByRole('button', { name: 'Verify' }).click();
  await landAtClient(page, 'password and authenticator-app code');
  noProblems('after the code');

  // 2. A passkey: created in Chromium's virtual authenticator, then a sign-in without a name.
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      ctap2Version: 'ctap2_1',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  ok(`a virtual authenticator (CTAP 2.1, internal, resident keys, user verification): ${authenticatorId}`);

  await step('opening the security-info page', () => page.goto(SECURITY_INFO), page);
  info = await securityInfo(page);
  const current = info.sessions.filter((r) => r[2] === 'this browser');
  check(
    current.length === 1 && current[0][1] === 'password, authenticator app code',
    'the security-info page lists this browser’s sign-in "with password, authenticator app code"',
    info.sessions,
  );
  await step(
    'following "Add a passkey"',
    () => Promise.all([page.waitForURL(`${SECURITY_INFO}/passkey`), page.getByRole('link', { name: 'Add a passkey' }).click()]),
    page,
  );
  await page.getByLabel('Name it', { exact: true }).fill('Browser passkey');
  await screenshot(page, 'passkey-add');
  noProblems('on the add-a-passkey page');
  await step(
    'creating a passkey (and going back to the security-info page)',
    () =>
      Promise.all([
        page.waitForURL(SECURITY_INFO, { timeout: 15_000 }),
        page.getByRole('button', { name: 'Create a passkey' }).click(),
      ]),
    page,
  );
  info = await securityInfo(page);
  check(
    info.methods.some((t) => t.includes('Browser passkey') && t.includes('passkey, added')),
    'the passkey is listed on the security-info page',
    info.methods,
  );
  await screenshot(page, 'security-info');
  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  check(
    credentials.length === 1 && credentials[0].isResidentCredential && credentials[0].rpId === new URL(WARD).hostname,
    `the authenticator holds one resident credential for rpId "${credentials[0]?.rpId}"`,
    credentials.map((c) => ({ rpId: c.rpId, isResidentCredential: c.isResidentCredential, signCount: c.signCount })),
  );
  noProblems('after creating the passkey');

  await context.clearCookies();
  await step('opening the authorize URL', () => page.goto(AUTHORIZE), page);
  const passkeyButton = page.locator('#passkey-signin');
  await step('waiting for "Sign in with a passkey" to be shown by /static/passkey.js', () => passkeyButton.waitFor({ state: 'visible' }), page);
  check(
    (await page.getByRole('button', { name: 'Sign in with a passkey' }).count()) === 1 && (await username.inputValue()) === '',
    'the sign-in page offers "Sign in with a passkey"; no username typed',
  );
  await screenshot(page, 'sign-in');
  noProblems('on the sign-in page');
  await passkeyButton.click();
  await landAtClient(page, 'a passkey, without a username');
  const after = (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials;
  check(after.length === 1 && after[0].signCount > credentials[0].signCount, `the passkey signed (signature counter ${credentials[0].signCount} → ${after[0]?.signCount})`);
  await step('opening the security-info page', () => page.goto(SECURITY_INFO), page);
  info = await securityInfo(page);
  const mine = info.sessions.filter((r) => r[2] === 'this browser');
  check(
    mine.length === 1 && mine[0][1].split(', ').includes('passkey') && !mine[0][1].includes('password'),
    `the security-info page lists this browser’s sign-in "with ${mine[0]?.[1]}"`,
    info.sessions,
  );
  noProblems('after the passkey sign-in');

  // 3. The same passkey, but the authenticator does not verify the person: no sign-in.
  await cdp.send('WebAuthn.setUserVerified', { authenticatorId, isUserVerified: false });
  await context.clearCookies();
  await step('opening the authorize URL', () => page.goto(AUTHORIZE), page);
  await step('waiting for "Sign in with a passkey"', () => passkeyButton.waitFor({ state: 'visible' }), page);
  noProblems('on the sign-in page');
  const hitsBefore = clientHits().length;
  // Ward asks for user verification: the browser refuses the ceremony itself (NotAllowedError,
  // caught and explained by passkey.js); were an unverified answer posted, Ward must refuse it
  // (401). Either is a refusal; which one happened is said below.
  expectConsole(/NotAllowedError/, null, 'the authenticator could not verify the user');
  expectConsole(/status of 401/, `/${TENANT}/login/passkey`, 'Ward refuses a passkey answer without user verification');
  const answerPosts = () => seen.requests.filter((u) => new URL(u).pathname === `/${TENANT}/login/passkey`).length;
  const postsBefore = answerPosts();
  const passkeyError = page.locator('#passkey-error');
  const t3 = Date.now();
  await passkeyButton.click();
  await step('waiting for the alert in #passkey-error', () => passkeyError.waitFor({ state: 'visible' }), page);
  const alertText = (await passkeyError.textContent()).trim();
  check(
    (await passkeyError.getAttribute('role')) === 'alert' && alertText.length > 0,
    `#passkey-error (role=alert) says: "${alertText}" after ${((Date.now() - t3) / 1000).toFixed(1)} s`,
  );
  await page.waitForTimeout(300);
  const posted = answerPosts() - postsBefore;
  ok(
    posted === 0
      ? 'the browser refused the ceremony itself: no answer was posted to Ward'
      : `the browser posted an unverified answer ${posted} time(s), and Ward refused it`,
  );
  check(clientHits().length === hitsBefore, 'no redirect to the client');
  check(
    new URL(page.url()).pathname === `/${TENANT}/oauth2/v2.0/authorize` && (await username.count()) === 1,
    'still on the sign-in page',
    page.url(),
  );
  check(!(await context.cookies(WARD)).some((c) => c.name === 'ward_session'), 'no session cookie');
  check(await passkeyButton.isEnabled(), 'the passkey button can be used again');
  await screenshot(page, 'passkey-refused');
  unseenExpected(); // one of the two at most: passkey.js catches the NotAllowedError, Chromium may log nothing.
  noProblems('after the refused passkey');

  // 4. Lockout: ten wrong passwords typed for another account, then even the right one is refused.
  await context.clearCookies();
  await step('opening the authorize URL', () => page.goto(AUTHORIZE), page);
  // The username typed once, Enter; then every wrong password on the password page, which stays.
  const focused1 = await focusedName(page, 'username');
  check(focused1 === 'username', 'the Username field has the focus on load', focused1);
  await page.keyboard.type(LOCKOUT_USERNAME);
  const named = await postLogin(page, TENANT, 'submitting the username with Enter', () => page.keyboard.press('Enter'));
  check(named.status() === 200, `the username, typed and submitted with Enter, answered ${named.status()}`, named.status());
  await step('waiting for the "Enter password" page', () => passwordHeading.waitFor(), page);
  const statuses = [];
  const names = new Set();
  expectConsole(/status of 401/, `/${TENANT}/login`, 'Ward answers a wrong password with 401', 10);
  for (let i = 1; i <= 10; i += 1) {
    const focused = await focusedName(page, 'password');
    if (focused !== 'password') await password.click();
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.type(`wrong-password-${i}`);
    const r = await postLogin(page, TENANT, `submitting wrong password ${i} with Enter`, () => page.keyboard.press('Enter'));
    statuses.push(r.status());
    names.add(((await signingInAs.textContent().catch(() => '')) ?? '').trim());
  }
  await expectedSeen();
  check(statuses.every((s) => s === 401), `ten wrong passwords, typed and submitted with Enter, answered ${statuses.join(' ')}`, statuses);
  check(
    names.size === 1 && names.has(LOCKOUT_USERNAME) && (await passwordHeading.count()) === 1,
    `each wrong password answered with the password page again, signing in as ${[...names].join(', ')}`,
    [...names],
  );
  const wrongAlert = (await page.locator('#error').textContent()).trim();
  ok(`the alert after the tenth: "${wrongAlert}"`);
  noProblems('after ten wrong passwords');
  expectConsole(/status of 429/, `/${TENANT}/login`, 'Ward answers a sign-in to a locked account with 429');
  await password.click();
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.type(LOCKOUT_PASSWORD);
  const locked = await postLogin(page, TENANT, 'submitting the right password with Enter', () => page.keyboard.press('Enter'));
  check(locked.status() === 429, `the right password is answered ${locked.status()}`, locked.status());
  const lockedAs = ((await signingInAs.textContent().catch(() => '')) ?? '').trim();
  check((await passwordHeading.count()) === 1 && lockedAs === LOCKOUT_USERNAME, `the 429 is the password page, signing in as ${lockedAs}`, lockedAs);
  const retry = (await locked.allHeaders())['retry-after'];
  const lockedText = (await page.getByRole('alert').filter({ visible: true }).first().textContent()).trim();
  const m = /^Your account is temporarily locked after too many failed attempts\. Try again in (\d+) seconds\.$/.exec(lockedText);
  check(m !== null, `the alert says: "${lockedText}"`, lockedText);
  check(retry === m[1] || Math.abs(Number(retry) - Number(m[1])) <= 1, `Retry-After: ${retry} matches the alert`, { retry, alert: m[1] });
  check(!(await context.cookies(WARD)).some((c) => c.name === 'ward_session'), 'no session cookie for the locked account');
  check(clientHits().length === hitsBefore, 'no redirect to the client');
  await screenshot(page, 'locked');
  await expectedSeen();
  const unseen = unseenExpected();
  check(unseen.length === 0, 'Chromium reported each of those 401s and the 429 (as console errors, expected)', unseen);
  noProblems('after the lockout');

  // Nothing but Ward and the client was ever asked for anything.
  const foreign = seen.requests.filter((u) => !u.startsWith(`${WARD}/`) && !u.startsWith(`${CLIENT}/`));
  check(foreign.length === 0, `no request left Ward and the client (${seen.requests.length} requests in all)`, foreign);
  for (const w of seen.warnings) note(`console ${w}`);
  ok(`${shotCount} screenshots in ${SHOTS} (sign-in-methods-*.png); ${((Date.now() - started) / 1000).toFixed(1)} s in the browser`);
  await browser.close();
}

await run(main, async () => {
  await browser?.close().catch(() => {});
  client.close();
});
