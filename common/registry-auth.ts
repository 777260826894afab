// Registry credentials as they travel to the daemon: docker's X-Registry-Auth header.

export interface Credentials {
  username?: string;
  password?: string;
  /** an OAuth2 refresh token (docker's identitytoken) */
  identityToken?: string;
  /** a bearer token to send as is */
  registryToken?: string;
}

/** docker's X-Registry-Auth header: base64url(JSON {username, password, serveraddress}). */
export function encodeAuthHeader(creds: Credentials, serveraddress: string): string {
  return Buffer.from(
    JSON.stringify({
      username: creds.username,
      password: creds.password,
      identitytoken: creds.identityToken,
      registrytoken: creds.registryToken,
      serveraddress,
    }),
  ).toString('base64url');
}

export function decodeAuthHeader(h: string | undefined): Credentials | undefined {
  if (!h) return undefined;
  try {
    const j = JSON.parse(Buffer.from(h, 'base64url').toString());
    if (!j || typeof j !== 'object') return undefined;
    const c: Credentials = {
      username: j.username || undefined,
      password: j.password || undefined,
      identityToken: j.identitytoken || undefined,
      registryToken: j.registrytoken || undefined,
    };
    return c.username || c.identityToken || c.registryToken ? c : undefined;
  } catch {
    throw new Error('X-Registry-Auth: not base64url-encoded JSON');
  }
}
