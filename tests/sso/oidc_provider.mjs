// A real OpenID provider for the single sign-on tests (tests/sso/provider.py starts it):
// oidc-provider, pinned in tests/e2e/package.json, configured from the JSON file named by
// the first argument. Its accounts are read again from their own file at each lookup, so a
// test can change a person's groups between two sign-ins. Prints "ready <port>" once it
// listens: the fixture waits on that line, not on a clock.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const modules = join(here, '..', 'e2e', 'node_modules');
const entry = createRequire(join(modules, 'noop.js')).resolve('oidc-provider');
const { default: Provider } = await import(pathToFileURL(entry).href);

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const accounts = () => JSON.parse(readFileSync(config.accounts_file, 'utf8'));

function start(issuer) {
const provider = new Provider(issuer, {
  clients: config.clients,
  jwks: config.jwks,
  cookies: { keys: [config.cookie_key] },
  // Groups and email in the ID token, as the providers Riskscan meets put them there.
  conformIdTokenClaims: false,
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'groups'],
  },
  scopes: ['openid', 'email', 'profile', 'api'],
  pkce: { required: () => true },
  async findAccount(_ctx, id) {
    const claims = accounts()[id];
    if (!claims) return undefined;
    return { accountId: id, claims: async () => ({ sub: id, ...claims }) };
  },
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async (_ctx, _client, oneOf) => oneOf ?? config.api_audience,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (_ctx, resource) => ({
        scope: 'api',
        audience: resource,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
  // A client's own token (client credentials) names the person it acts for.
  async extraTokenClaims(_ctx, token) {
    return token.kind === 'ClientCredentials' ? config.client_claims[token.clientId] : undefined;
  },
});
provider.on('server_error', (_ctx, error) => console.error('server_error', error));
return provider;
}

// The issuer names the port, so the port comes first: a free one the system picks.
const server = createServer();
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  server.on('request', start(`http://127.0.0.1:${port}`).callback());
  console.log(`ready ${port}`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
