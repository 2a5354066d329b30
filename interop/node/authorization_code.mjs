// openid-client against Ward's sign-in: discovery with openid-client's strict issuer check,
// authorization code + PKCE S256 through the real sign-in and consent pages for a public client and
// a confidential one; openid-client's own ID token checks plus jose verifying the ID token's and the
// access token's signatures against the JWKS; userinfo; refresh-token rotation with replay revoking
// the whole family; introspection (RFC 7662) before and after revocation (RFC 7009).
//
// Inputs: WARD_URL, WARD_TENANT, WARD_CLIENT_ID (public client), WARD_CONF_CLIENT_ID and
// WARD_CONF_CLIENT_SECRET (confidential), WARD_REDIRECT_URI, WARD_USERNAME, WARD_PASSWORD,
// WARD_SCOPE; NODE_EXTRA_CA_CERTS for HTTPS.
import * as client from 'openid-client';
import * as jose from 'jose';
import { BASE, GRAPH, ISSUER, TENANT, check, discoveryOptions, env, expectError, fail, oauthError, ok } from './lib.mjs';
import { signIn } from './signin.mjs';

const PUBLIC_ID = env('WARD_CLIENT_ID');
const CONF_ID = env('WARD_CONF_CLIENT_ID');
const CONF_SECRET = env('WARD_CONF_CLIENT_SECRET');
const REDIRECT_URI = env('WARD_REDIRECT_URI');
const USERNAME = env('WARD_USERNAME');
const PASSWORD = env('WARD_PASSWORD');
const SCOPE = env('WARD_SCOPE');

async function discover(clientId, auth, label) {
  try {
    // The issuer URL itself: openid-client fetches {issuer}/.well-known/openid-configuration and
    // requires the document's issuer to be exactly this URL.
    return await client.discovery(new URL(ISSUER), clientId, undefined, auth, discoveryOptions);
  } catch (e) {
    fail(`${label}: discovery failed: ${e.code ?? e.name}: ${e.message}${e.cause ? ` (${JSON.stringify(e.cause)})` : ''}`);
  }
}

const publicConfig = await discover(PUBLIC_ID, client.None(), 'public client');
const meta = publicConfig.serverMetadata();
ok(`discovery: issuer ${meta.issuer} passes openid-client's strict issuer check`);
check(meta.token_endpoint === `${BASE}/${TENANT}/oauth2/v2.0/token`, 'discovery: token_endpoint', meta.token_endpoint);
check(meta.supportsPKCE('S256'), 'discovery: PKCE S256 supported');
const jwks = jose.createRemoteJWKSet(new URL(meta.jwks_uri));

async function authorize(config, label) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: SCOPE,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  });
  const { location, query, pages } = await signIn(url.href, REDIRECT_URI, USERNAME, PASSWORD);
  if (query.error) fail(`${label}: the authorization response is an error: ${JSON.stringify(query)}`);
  check(query.state === state && query.code, `${label}: code and matching state after pages ${pages.join(', ')}`, query);
  let tokens;
  try {
    tokens = await client.authorizationCodeGrant(config, new URL(location), {
      pkceCodeVerifier: verifier,
      expectedState: state,
      expectedNonce: nonce,
      idTokenExpected: true,
    });
  } catch (e) {
    fail(`${label}: token exchange or ID token check failed: ${await oauthError(e)}`);
  }
  ok(`${label}: openid-client accepted the ID token (iss, aud, nonce, exp, iat)`);
  for (const name of ['access_token', 'id_token', 'refresh_token']) check(Boolean(tokens[name]), `${label}: ${name} issued`, Object.keys(tokens));
  return { tokens, nonce };
}

async function verifyTokens({ tokens, nonce }, clientId, label) {
  let id;
  try {
    id = await jose.jwtVerify(tokens.id_token, jwks, { issuer: ISSUER, audience: clientId, algorithms: meta.id_token_signing_alg_values_supported });
  } catch (e) {
    fail(`${label}: jose refused the ID token: ${e.code}: ${e.message}`);
  }
  check(id.payload.nonce === nonce && id.payload.sub === tokens.claims().sub, `${label}: ID token ${id.protectedHeader.alg} signature verifies; nonce and sub`);
  let access;
  try {
    access = await jose.jwtVerify(tokens.access_token, jwks, { issuer: ISSUER, audience: GRAPH, typ: 'at+jwt', algorithms: ['RS256'] });
  } catch (e) {
    fail(`${label}: jose refused the access token: ${e.code}: ${e.message}`);
  }
  const scopes = String(access.payload.scp ?? '').split(' ');
  check(scopes.includes('User.Read'), `${label}: access token for ${GRAPH}, scp ${scopes.join(' ')}`, access.payload);
  return id.payload;
}

async function refused(config, refreshToken, label) {
  const e = await expectError(() => client.refreshTokenGrant(config, refreshToken), label);
  const code = await oauthError(e);
  check(code === 'invalid_grant', `${label}: invalid_grant`, code);
}

// --- public client: PKCE, no secret
let grant = await authorize(publicConfig, 'public client');
const idClaims = await verifyTokens(grant, PUBLIC_ID, 'public client');

const userinfo = await client.fetchUserInfo(publicConfig, grant.tokens.access_token, idClaims.sub).catch(async (e) => fail(`userinfo: ${await oauthError(e)}`));
check(userinfo.sub === idClaims.sub, "userinfo: sub equals the ID token's sub (openid-client checks it too)");

const old = grant.tokens.refresh_token;
const rotated = await client.refreshTokenGrant(publicConfig, old).catch(async (e) => fail(`refresh: ${await oauthError(e)}`));
check(Boolean(rotated.refresh_token) && rotated.refresh_token !== old, 'refresh: a new refresh token replaces the old one');
await refused(publicConfig, old, 'replaying the old refresh token');
await refused(publicConfig, rotated.refresh_token, 'the new refresh token after the replay (family revoked)');

// --- confidential client: PKCE and a secret; introspection and revocation
const confConfig = await discover(CONF_ID, client.ClientSecretBasic(CONF_SECRET), 'confidential client');
grant = await authorize(confConfig, 'confidential client');
await verifyTokens(grant, CONF_ID, 'confidential client');
const { access_token: accessToken, refresh_token: refreshToken } = grant.tokens;

const introspect = (token, hint) =>
  client.tokenIntrospection(confConfig, token, { token_type_hint: hint }).catch(async (e) => fail(`introspection: ${await oauthError(e)}`));
let info = await introspect(accessToken, 'access_token');
check(info.active === true, 'introspection: a fresh access token is active', info);
await client.tokenRevocation(confConfig, refreshToken, { token_type_hint: 'refresh_token' }).catch(async (e) => fail(`revocation: ${await oauthError(e)}`));
ok('revocation of the refresh token accepted');
info = await introspect(accessToken, 'access_token');
check(info.active === false, 'introspection: its access token is inactive after revocation', info);
info = await introspect(refreshToken, 'refresh_token');
check(info.active === false, 'introspection: the refresh token is inactive', info);
await refused(confConfig, refreshToken, 'refreshing with the revoked refresh token');

console.log('openid-client authorization code: all checks passed');
