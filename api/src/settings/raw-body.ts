// A raw request body with a limit, read by the one route that takes one (the logo), after the
// caller's permission is checked: nobody makes the API hold a megabyte without org:update.
import type { Request } from "express";
import { ApiError } from "../http/errors.ts";

const tooLarge = (limit: number) =>
  new ApiError(413, "too_large", `The body is larger than the ${limit / 1024 / 1024} MiB (${limit} bytes) allowed`, {
    // The rest of the upload is not read: the connection is closed after the answer.
    headers: { connection: "close" },
  });

/** The body's bytes, or a 413 as soon as it is known to exceed `limit` (from Content-Length, else while reading). */
export function readRawBody(req: Request, limit: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"] ?? Number.NaN);
  if (declared > limit) return Promise.reject(tooLarge(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        req.pause();
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (e: Error) => {
      cleanup();
      reject(e);
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
  });
}
