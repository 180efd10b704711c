// Clients the gateway's tests share.
import { type IncomingMessage, request } from "node:http";

/**
 * PUTs "one," then "two" 20 ms apart with node:http's client, which then sends the body in
 * chunks (its length is unknown when the request starts); resolves with the answer's text.
 */
export const putInParts = (url: string) =>
  new Promise<string>((resolve, reject) => {
    const req = request(url, { method: "PUT" }, async (res) => {
      let text = "";
      for await (const p of res) text += p;
      resolve(text);
    });
    req.on("error", reject);
    req.write("one,");
    setTimeout(() => req.end("two"), 20);
  });

/** Reads the rest of a response's body (resuming it if paused); resolves with its size. */
export async function bodySize(res: IncomingMessage): Promise<number> {
  let size = 0;
  for await (const chunk of res) size += (chunk as Buffer).length;
  return size;
}
