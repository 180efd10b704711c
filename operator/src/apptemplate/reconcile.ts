import type { AppTemplate } from "@atrium/crds";
import { R } from "@atrium/kube";
import { type Deps, writeStatus } from "../deps.ts";
import { setCondition } from "../runtime/conditions.ts";
import type { Outcome } from "../runtime/queue.ts";

/**
 * Checks the schema cannot express: every version must make a valid image reference, and a
 * required setting with neither a default nor a generator needs a value from each installer
 * (allowed, but worth saying).
 */
export function templateProblems(template: AppTemplate): string[] {
  const problems: string[] = [];
  for (const version of template.spec.versions) {
    const ref = `${template.spec.image}:${version}`;
    if (ref.length > 255) problems.push(`image reference ${ref} is longer than 255 characters`);
  }
  if (template.spec.image.includes("@")) problems.push("image must not carry a digest; versions are tags");
  if (/:[^/]*$/.test(template.spec.image) && !/^[^/]+:\d+\//.test(template.spec.image))
    problems.push("image must not carry a tag; versions are tags");
  return problems;
}

export const reconcileAppTemplate =
  (deps: Deps) =>
  async (key: string): Promise<Outcome> => {
    const template = deps.caches.appTemplates.get(key);
    if (!template) return;
    const problems = templateProblems(template);
    const condition = problems.length
      ? { type: "Ready", status: "False" as const, reason: "Invalid", message: problems.join("; ") }
      : { type: "Ready", status: "True" as const, reason: "Valid", message: "Template can be installed" };
    const status = {
      observedGeneration: template.metadata.generation,
      conditions: setCondition(template.status?.conditions, condition, template.metadata.generation, deps.now()),
    };
    if ((await writeStatus(deps, R.appTemplate, template, status)) && problems.length)
      deps.record(template, "Warning", "Invalid", condition.message);
  };
