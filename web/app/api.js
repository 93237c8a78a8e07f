// The one door to the server: JSON in and out, the session cookie, and the CSRF header on writes.
let csrfToken = "";

/** Optional APIs this server has (the page lists them), so that the app never calls a missing one. */
export const features = new Set(
  (document.querySelector('meta[name="bastion-features"]')?.content ?? "").split(",").filter(Boolean),
);

export function setCsrfToken(token) {
  csrfToken = token ?? "";
}

export function csrfHeaders() {
  return csrfToken ? { "x-csrf-token": csrfToken } : {};
}

/** An error from the server, with its HTTP status and the OpenAI-shaped message. */
export class ApiError extends Error {
  constructor(status, message, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export async function errorFrom(response) {
  let message = `${response.status} ${response.statusText}`;
  let code;
  try {
    const body = await response.json();
    if (typeof body?.error === "string") message = body.error;
    else if (body?.error?.message) {
      message = body.error.message;
      code = body.error.code;
    }
  } catch {
    // Not JSON: keep the status line.
  }
  return new ApiError(response.status, message, code);
}

/** fetch with JSON, credentials and CSRF; throws ApiError on any non-2xx answer. */
export async function request(method, path, body, options = {}) {
  const headers = { accept: "application/json", ...csrfHeaders() };
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: options.signal,
  });
  if (!response.ok) {
    // A session that expired or was revoked: the app goes back to the sign-in page.
    if (response.status === 401 && !path.startsWith("/auth/")) dispatchEvent(new Event("bastion:signed-out"));
    throw await errorFrom(response);
  }
  if (options.raw) return response;
  if (response.status === 204) return undefined;
  const type = response.headers.get("content-type") ?? "";
  return type.includes("json") ? response.json() : response.text();
}

export const api = {
  get: (path, options) => request("GET", path, undefined, options),
  post: (path, body, options) => request("POST", path, body ?? {}, options),
  patch: (path, body) => request("PATCH", path, body),
  delete: (path) => request("DELETE", path),
};

/** Saves a response body as a file the browser downloads. */
export async function download(path) {
  const response = await request("GET", path, undefined, { raw: true });
  const disposition = response.headers.get("content-disposition") ?? "";
  const match = /filename\*=UTF-8''([^;]+)/.exec(disposition);
  const name = match ? decodeURIComponent(match[1]) : "export";
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
