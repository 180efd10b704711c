// The start-up self-test of node:_http_common's parser binding (llhttp.ts): silent on the Node it
// was written against, and naming what broke when a binding differs. Broken bindings are made
// from the real one by moving a callback's slot or an argument, as a Node release could.
import { describe, expect, it } from "vitest";
import {
  bindingProblems,
  checkParserBinding,
  consumedReadProblems,
  HTTPParser,
  ParserBindingError,
  type ParserClass,
} from "./llhttp.ts";

/** The real parser with one of its constants changed. */
const withConstant = (name: keyof ParserClass, value: number): ParserClass => {
  class Changed extends HTTPParser {}
  Object.defineProperty(Changed, name, { value });
  return Changed as unknown as ParserClass;
};

/** The real parser whose kOnHeadersComplete hands its arguments over in another order. */
const withHeadArguments = (order: number[]): ParserClass => {
  const SLOT = 1000; // where the gateway's callback lands; node calls the real slot
  class Reordered extends HTTPParser {
    constructor() {
      super();
      this[HTTPParser.kOnHeadersComplete] = (...args: unknown[]) =>
        (this[SLOT] as (...a: unknown[]) => unknown)(...order.map((i) => args[i]));
    }
  }
  Object.defineProperty(Reordered, "kOnHeadersComplete", { value: SLOT });
  return Reordered as unknown as ParserClass;
};

describe("the parser binding self-test", () => {
  it("finds nothing wrong with the binding of the pinned Node", async () => {
    expect(bindingProblems()).toEqual([]);
    expect(await consumedReadProblems()).toEqual([]);
    await checkParserBinding();
  });

  it("notices a body callback in another slot", () => {
    const problems = bindingProblems(withConstant("kOnBody", HTTPParser.kOnHeaders));
    expect(problems).toContain("a request body was not read");
    expect(problems).toContain("a response body was not read");
    expect(problems).toContain("a request went through begin, head, complete, not begin, head, body, complete");
  });

  it("notices the head's arguments in another order (the method number where the url was)", () => {
    const problems = bindingProblems(withHeadArguments([0, 1, 2, 4, 3, 5, 6, 7, 8]));
    expect(problems.join("; ")).toMatch(/no method number for DELETE, GET/);
    expect(problems.join("; ")).toMatch(/POST read as method \/p\?q=1/);
    expect(problems.join("; ")).toMatch(/the request target read as \d+/);
  });

  it("notices keep-alive and upgrade swapped", () => {
    expect(bindingProblems(withHeadArguments([0, 1, 2, 3, 4, 5, 6, 8, 7]))).toContain(
      "a keep-alive request read as closing or an upgrade",
    );
  });

  it("notices requests and responses swapped", () => {
    const swapped = withConstant("REQUEST", HTTPParser.RESPONSE);
    expect(bindingProblems(swapped).join("; ")).toMatch(/a request parsed to Error/);
  });

  it("notices consumed reads no longer reported where the server listens for them", async () => {
    const problems = await consumedReadProblems(withConstant("kOnExecute", HTTPParser.kOnBody), 300);
    expect(problems).toEqual(["no consumed read reached the parser in 300 ms"]);
  });

  it("notices a head callback in a slot the gateway leaves unset between requests", () => {
    // server.ts and upstream.ts leave kOnMessageBegin and kOnMessageComplete unset while they
    // need neither; a binding that reported heads there would lose them.
    const problems = bindingProblems(withConstant("kOnHeadersComplete", HTTPParser.kOnMessageComplete));
    expect(problems.join("; ")).toMatch(
      /with begin and complete unset, two requests went through parts, head, parts, head/,
    );
  });

  it("stops the start with every problem named and what to do", async () => {
    const error = await checkParserBinding(withConstant("kOnMessageComplete", HTTPParser.kOnMessageBegin)).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ParserBindingError);
    expect((error as Error).message).toMatch(
      /^node:_http_common's HTTP parser is not the one the gateway was written against \(Node v[\d.]+\): .*a request went through complete, head, body, not begin, head, body, complete.*Run the gateway on the Node version in \.nvmrc/,
    );
  });
});
