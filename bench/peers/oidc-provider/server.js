// The peer of `ward-bench tokens`: npm `oidc-provider` (version pinned in package-lock.json) with
// one confidential client allowed the client_credentials grant, and two resource servers whose
// access tokens are JWTs, one signed RS256 and one ES256 (the `resource` parameter picks which).
// Keys (RSA-2048 and P-256) are generated at start. Storage is the provider's in-memory adapter.
//
//   npm ci --prefix bench/peers/oidc-provider
//   taskset -c 0 node bench/peers/oidc-provider/server.js
//
// Listens on 127.0.0.1 (port 0 = any free one, or PORT) and prints one JSON line on stdout when
// ready: {"listening":"127.0.0.1:PORT","issuer":...,"token_endpoint":...,"client_id":...,
// "client_secret":...,"resources":{"RS256":...,"ES256":...},"scope":...,"version":...,"node":...}.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

let Provider;
try {
  ({ default: Provider } = await import('oidc-provider'));
} catch (e) {
  console.error(`oidc-provider is not installed (${e.code || e.message}): run \`npm ci --prefix bench/peers/oidc-provider\``);
  process.exit(3);
}

const require = createRequire(import.meta.url);
const version = JSON.parse(readFileSync(require.resolve('oidc-provider/package.json'), 'utf8')).version;

const jwk = (type, options, kid, alg) => ({
  ...generateKeyPairSync(type, options).privateKey.export({ format: 'jwk' }),
  kid,
  alg,
  use: 'sig',
});
const keys = [
  jwk('rsa', { modulusLength: 2048 }, 'rs256-bench', 'RS256'),
  jwk('ec', { namedCurve: 'P-256' }, 'es256-bench', 'ES256'),
];

const RESOURCES = { RS256: 'https://rs256.api.example', ES256: 'https://es256.api.example' };
const SCOPE = 'api.read';
const client = {
  client_id: 'bench-client',
  client_secret: randomBytes(32).toString('base64url'),
  grant_types: ['client_credentials'],
  response_types: [],
  redirect_uris: [],
  // The load generator posts the secret in the form, as it does to Ward.
  token_endpoint_auth_method: process.env.AUTH_METHOD || 'client_secret_post',
  scope: SCOPE,
};

const server = createServer();
await new Promise((resolve) => server.listen(Number(process.env.PORT || 0), '127.0.0.1', resolve));
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: [client],
  jwks: { keys },
  scopes: [SCOPE],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: false },
    revocation: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => RESOURCES.RS256,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, resourceIndicator) => {
        const alg = Object.keys(RESOURCES).find((a) => RESOURCES[a] === resourceIndicator);
        if (!alg) throw new Provider.errors.InvalidTarget();
        return {
          scope: SCOPE,
          audience: resourceIndicator,
          accessTokenTTL: 3600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg } },
        };
      },
    },
  },
  // No interactive flows are used; silence the development-only interaction warnings.
  interactions: { url: () => '/interaction/unused' },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
});
provider.on('server_error', (_ctx, err) => console.error('server_error', err));

server.on('request', provider.callback());
server.keepAliveTimeout = 60_000;

process.stdout.write(`${JSON.stringify({
  listening: `127.0.0.1:${port}`,
  issuer,
  token_endpoint: `${issuer}/token`,
  client_id: client.client_id,
  client_secret: client.client_secret,
  auth_method: client.token_endpoint_auth_method,
  resources: RESOURCES,
  scope: SCOPE,
  version,
  node: process.version,
})}\n`);

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
