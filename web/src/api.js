// Talking to `genoface serve`: the bearer token from the page URL, JSON and file requests, and
// errors as one plain line ({"error": "..."} from the server; never a stack trace).
import { oneLine } from "./format.js";

/** ?token=XYZ of the page URL, sent as "Authorization: Bearer XYZ" on every request. */
export const token = new URLSearchParams(window.location.search).get("token") || "";

export function authHeaders() {
  return token ? { Authorization: `Bearer ${token}` } : {};
}

/** A link to another page of the app that keeps ?token=. */
export function withToken(href) {
  if (!token) return href;
  const url = new URL(href, window.location.href);
  url.searchParams.set("token", token);
  return url.pathname + url.search + url.hash;
}

export class ApiError extends Error {
  constructor(message, status = 0) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

/**
 * fetch with the token; resolves to the parsed JSON (as: "json") or the Response (as: "response"),
 * rejects with an ApiError holding a one-line message (or the AbortError of an aborted request).
 */
export async function request(path, { method = "GET", body = undefined, signal = undefined, as = "json" } = {}) {
  let response;
  try {
    response = await fetch(path, { method, body, signal, headers: authHeaders(), credentials: "same-origin" });
  } catch (err) {
    if (err && err.name === "AbortError") throw err;
    throw new ApiError("Could not reach the genoface server (is `genoface serve` still running?).");
  }
  if (!response.ok) throw new ApiError(await errorMessage(response), response.status);
  if (as === "response") return response;
  try {
    return await response.json();
  } catch (err) {
    if (err && err.name === "AbortError") throw err;
    throw new ApiError("The server's answer was not valid JSON.");
  }
}

async function errorMessage(response) {
  let text = "";
  try {
    text = await response.text();
  } catch {
    // fall through to the status line
  }
  let message = "";
  try {
    const data = JSON.parse(text);
    if (data && typeof data.error === "string") message = data.error;
    else if (data && typeof data.detail === "string") message = data.detail; // FastAPI's default shape
    else if (data && Array.isArray(data.detail) && data.detail[0] && typeof data.detail[0].msg === "string") {
      const first = data.detail[0];
      const where = Array.isArray(first.loc) ? first.loc.filter((x) => x !== "body").join(".") : "";
      message = where ? `${where}: ${first.msg}` : first.msg;
    }
  } catch {
    // not JSON: say only the status, never the body (it may be an HTML page or a trace)
  }
  message = oneLine(message);
  if (!message || /^Traceback \(most recent call last\)/.test(message)) {
    message = `The server answered ${response.status}${response.statusText ? ` ${response.statusText}` : ""}.`;
  }
  return message;
}

/** The file name of a Content-Disposition header, or "". */
export function dispositionFilename(header) {
  if (!header) return "";
  const star = /filename\*\s*=\s*(?:UTF-8'')?([^;]+)/i.exec(header);
  if (star) {
    try {
      return decodeURIComponent(star[1].trim().replace(/^"|"$/g, ""));
    } catch {
      // fall back to the plain filename
    }
  }
  const plain = /filename\s*=\s*("([^"]*)"|[^;]+)/i.exec(header);
  return plain ? (plain[2] ?? plain[1]).trim() : "";
}
