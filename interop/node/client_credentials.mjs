// openid-client gets app-only tokens from Ward (client credentials) with client_secret_basic and
// client_secret_post; jose verifies them against the published JWKS (RS256, typ at+jwt, iss, aud,
// exp) and refuses a tampered one and one signed by another key.
//
// The server metadata is given, Entra's well-known endpoint paths under the issuer's tenant, so this
// runs without the discovery document (the authorization-code scripts use discovery).
//
// Inputs: WARD_URL, WARD_TENANT, WARD_CLIENT_ID, WARD_CLIENT_SECRET; NODE_EXTRA_CA_CERTS for HTTPS.
import * as client from 'openid-client';
import * as jose from 'jose';
import { BASE, GRAPH, ISSUER, TENANT, check, env, expectError, fail, insecureIfHttp, oauthError, ok } from './lib.mjs';

const CLIENT_ID = env('WARD_CLIENT_ID');
const SECRET = env('WARD_CLIENT_SECRET');
const server = {
  issuer: ISSUER,
  token_endpoint: `${BASE}/${TENANT}/oauth2/v2.0/token`,
  jwks_uri: `${BASE}/${TENANT}/discovery/v2.0/keys`,
};
const scope = `${GRAPH}/.default`;
const auth = { client_secret_basic: client.ClientSecretBasic, client_secret_post: client.ClientSecretPost };

function configuration(method, secret = SECRET) {
  return insecureIfHttp(new client.Configuration(server, CLIENT_ID, undefined, auth[method](secret)));
}

const jwks = jose.createRemoteJWKSet(new URL(server.jwks_uri));
const expected = { issuer: ISSUER, audience: GRAPH, typ: 'at+jwt', algorithms: ['RS256'], requiredClaims: ['exp', 'iat'] };

const seen = [];
for (const method of Object.keys(auth)) {
  const tokens = await client.clientCredentialsGrant(configuration(method), { scope }).catch(async (e) => fail(`${method}: ${await oauthError(e)}`));
  check(tokens.token_type === 'bearer', `${method}: token_type Bearer`, tokens.token_type);
  check(tokens.expiresIn() > 0 && tokens.expiresIn() <= 3600, `${method}: expires in ${tokens.expiresIn()} s`);
  let verified;
  try {
    verified = await jose.jwtVerify(tokens.access_token, jwks, expected);
  } catch (e) {
    fail(`${method}: jose refused the access token: ${e.code}: ${e.message}; header ${JSON.stringify(jose.decodeProtectedHeader(tokens.access_token))}`);
  }
  const { payload, protectedHeader } = verified;
  ok(`${method}: jose verified ${protectedHeader.alg} by kid ${protectedHeader.kid}, typ at+jwt, iss, aud, exp`);
  check(payload.tid === TENANT && payload.appid === CLIENT_ID, `${method}: tid and appid`, payload);
  check(Array.isArray(payload.roles) && payload.roles.length > 0, `${method}: roles, ${payload.roles?.length} application permissions`, payload);
  seen.push({ token: tokens.access_token, payload, protectedHeader });
}
check(seen[0].payload.jti !== seen[1].payload.jti, 'each token has its own jti');

// The checks are live: each of these must be refused.
const { token, payload, protectedHeader } = seen[0];
const [head, body, signature] = token.split('.');
const flipped = Buffer.from(body, 'base64url');
flipped[flipped.indexOf(CLIENT_ID)] ^= 0x01; // inside a JSON string: still valid JSON
const tampered = [head, flipped.toString('base64url'), signature].join('.');
let e = await expectError(() => jose.jwtVerify(tampered, jwks, expected), 'one flipped payload byte');
check(e.code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED', 'one flipped payload byte: signature refused', e.code);

const { privateKey } = await jose.generateKeyPair('RS256');
const forged = await new jose.SignJWT(payload).setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: protectedHeader.kid }).sign(privateKey);
e = await expectError(() => jose.jwtVerify(forged, jwks, expected), 'same claims and kid, another RSA key');
check(e.code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED', 'same claims and kid, another RSA key: signature refused', e.code);

e = await expectError(() => jose.jwtVerify(token, jwks, { ...expected, audience: 'api://someone-else' }), 'another audience');
check(e.code === 'ERR_JWT_CLAIM_VALIDATION_FAILED', 'another audience: refused', e.code);
e = await expectError(() => jose.jwtVerify(token, jwks, { ...expected, currentDate: new Date((payload.exp + 3600) * 1000) }), 'an hour past exp');
check(e.code === 'ERR_JWT_EXPIRED', 'an hour past exp: expired', e.code);

for (const method of Object.keys(auth)) {
  e = await expectError(() => client.clientCredentialsGrant(configuration(method, 'not-the-secret'), { scope }), `${method} with a wrong secret`);
  const code = await oauthError(e);
  check(code === 'invalid_client', `${method} with a wrong secret: error invalid_client`, code);
}

console.log('openid-client client credentials: all checks passed');
