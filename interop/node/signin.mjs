// Drives Ward's sign-in pages the way a browser with no JavaScript would, with fetch and a cookie
// jar of our own: GET the authorization URL, follow redirects by hand, fill and POST each page's
// form (hidden inputs carry the CSRF token and the continuation), and stop at the first redirect
// to the client's redirect_uri, which is never followed. Ward signs in "username first": a form
// with a visible username field and no password field is the username page (the username is
// posted); a form with a password field is the password page (the password is posted, and the
// username too when its field is visible rather than hidden); any other form is the consent page,
// answered with its button consent=accept.
import { fail } from './lib.mjs';

const ENTITIES = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", '#39': "'", '#x27': "'", '#47': '/', '#x2F': '/' };
const unescape = (s) => s.replace(/&(#?\w+);/g, (m, name) => ENTITIES[name] ?? m);

function attributes(tag) {
  const out = {};
  for (const [, name, , dq, sq, bare] of tag.matchAll(/([\w:-]+)(\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?/g)) {
    out[name.toLowerCase()] = unescape(dq ?? sq ?? bare ?? '');
  }
  return out;
}

/**
 * { action, fields, hasPassword, hasUsername } of the page's first POST form, or null: fields as a
 * browser would post them, hasUsername when a username field is there and not hidden.
 */
export function postForm(html) {
  for (const [, open, body] of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const form = attributes(open);
    if ((form.method ?? 'get').toLowerCase() !== 'post') continue;
    const fields = new URLSearchParams();
    let hasPassword = false;
    let hasUsername = false;
    for (const [, tag] of body.matchAll(/<input\b([^>]*)>/gi)) {
      const input = attributes(tag);
      const type = (input.type ?? 'text').toLowerCase();
      if (type === 'password') hasPassword = true;
      if (input.name === 'username' && type !== 'hidden') hasUsername = true;
      if (!input.name || ['submit', 'button', 'image', 'reset', 'file'].includes(type)) continue;
      if (['checkbox', 'radio'].includes(type) && !('checked' in input)) continue;
      fields.set(input.name, input.value ?? (['checkbox', 'radio'].includes(type) ? 'on' : ''));
    }
    return { action: form.action ?? '', fields, hasPassword, hasUsername };
  }
  return null;
}

/** A cookie jar for one host: enough for a session cookie and a CSRF cookie. */
class Jar {
  cookies = new Map();
  take(response) {
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const at = pair.indexOf('=');
      const name = pair.slice(0, at).trim();
      const expired = attrs.some((a) => /^\s*max-age\s*=\s*(0|-\d+)\s*$/i.test(a) || /^\s*expires\s*=\s*Thu, 01 Jan 1970/i.test(a));
      if (expired) this.cookies.delete(name);
      else this.cookies.set(name, pair.slice(at + 1).trim());
    }
  }
  header() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

/** Returns { location, query, pages }: the redirect to redirectUri, its parameters, the pages answered. */
export async function signIn(authorizationUrl, redirectUri, username, password) {
  const jar = new Jar();
  const pages = [];
  const go = async (url, init = {}) => {
    const headers = { ...init.headers, ...(jar.cookies.size ? { cookie: jar.header() } : {}) };
    const response = await fetch(url, { ...init, redirect: 'manual', headers });
    jar.take(response);
    return response;
  };
  let response = await go(authorizationUrl);
  for (let step = 0; step < 20; step++) {
    if ([301, 302, 303, 307, 308].includes(response.status)) {
      const location = new URL(response.headers.get('location'), response.url).href;
      if (location.startsWith(redirectUri)) {
        return { location, query: Object.fromEntries(new URL(location).searchParams), pages };
      }
      response = await go(location);
      continue;
    }
    const html = await response.text();
    if (response.status !== 200) fail(`sign-in: ${response.url} answered ${response.status}: ${html.slice(0, 500)}`);
    const form = postForm(html);
    if (!form) fail(`sign-in: the page at ${response.url} has no POST form: ${html.slice(0, 500)}`);
    if (form.hasPassword) {
      if (pages.includes('password')) fail(`sign-in: the password form came back, the credentials were refused: ${html.slice(0, 500)}`);
      if (form.hasUsername) form.fields.set('username', username);
      form.fields.set('password', password);
      pages.push('password');
    } else if (form.hasUsername) {
      if (pages.includes('username')) fail(`sign-in: the username form came back, the username was refused: ${html.slice(0, 500)}`);
      form.fields.set('username', username);
      pages.push('username');
    } else {
      form.fields.set('consent', 'accept');
      pages.push('consent');
    }
    response = await go(new URL(form.action, response.url), {
      method: 'POST',
      body: form.fields.toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
  }
  fail(`sign-in: no redirect to ${redirectUri} after 20 steps (${pages})`);
}
