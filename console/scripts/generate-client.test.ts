// The committed client types must match the API's routes as they are now.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { generateSchema, SCHEMA_FILE } from "./generate-client.ts";

describe("console/src/api/schema.d.ts", () => {
  it("is what the API's route table generates (else: npm run generate-client -w console)", async () => {
    const committed = readFileSync(SCHEMA_FILE, "utf8");
    expect(committed === (await generateSchema()), "stale: run `make console-client` and commit the result").toBe(true);
  }, 60_000);
});
