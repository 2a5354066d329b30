// Plumbing shared by the Node interop scripts: inputs from the environment and one printed line
// per checked property. HTTPS trust comes from NODE_EXTRA_CA_CERTS (the test CA), which Node reads
// at start-up; over plain http:// openid-client needs allowInsecureRequests.
import * as client from 'openid-client';

export const GRAPH = 'https://graph.microsoft.com';

export function ok(message) {
  console.log(`ok    ${message}`);
}

export function fail(message) {
  console.log(`FAIL  ${message}`);
  process.exit(1);
}

export function check(condition, message, detail) {
  if (!condition) fail(detail === undefined ? message : `${message}: ${typeof detail === 'string' ? detail : JSON.stringify(detail)}`);
  ok(message);
}

/** Awaits `action`, which must reject; returns the error. */
export async function expectError(action, message) {
  let got;
  try {
    got = await action();
  } catch (e) {
    ok(`${message} (${e.name}: ${e.message})`);
    return e;
  }
  fail(`${message}: no error, got ${JSON.stringify(got)}`);
}

/** The OAuth `error` code of a failed openid-client call, from the body in every case. */
export async function oauthError(e) {
  if (e instanceof client.ResponseBodyError) return e.error;
  if (e instanceof client.WWWAuthenticateChallengeError) {
    const body = await e.response.json().catch(() => ({}));
    return body.error ?? e.cause?.[0]?.parameters?.error;
  }
  return `${e.name}: ${e.message}`;
}

export function env(name) {
  const value = process.env[name];
  if (!value) fail(`environment variable ${name} is not set`);
  return value;
}

export const BASE = env('WARD_URL').replace(/\/+$/, '');
export const TENANT = env('WARD_TENANT');
export const ISSUER = `${BASE}/${TENANT}/v2.0`;

/** Options for openid-client's discovery()/Configuration over http:// (tests only). */
export function insecureIfHttp(config) {
  if (BASE.startsWith('http:')) client.allowInsecureRequests(config);
  return config;
}

/** The `options` argument of openid-client's discovery() for WARD_URL. */
export const discoveryOptions = { execute: BASE.startsWith('http:') ? [client.allowInsecureRequests] : [] };
