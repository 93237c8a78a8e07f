import { z } from "zod";
import type { IssueParams } from "../error-response.ts";

const unsupported: IssueParams = { bastionCode: "unsupported_parameter" };

/** Wire format of `POST /v1/embeddings`. Token-array inputs are recognised only to refuse them clearly. */
export const embeddingsRequestSchema = z
  .object({
    model: z.string().min(1),
    input: z.union([z.string(), z.array(z.union([z.string(), z.number(), z.array(z.number())])).max(2048)], {
      error: "Expected a string or an array of strings.",
    }),
    encoding_format: z.enum(["float", "base64"]).nullish(),
    dimensions: z.int().positive().nullish(),
    user: z.string().nullish(),
  })
  .superRefine((request, ctx) => {
    const inputs = typeof request.input === "string" ? [request.input] : request.input;
    if (inputs.length === 0) {
      ctx.addIssue({ code: "custom", path: ["input"], message: "'input' must not be empty." });
      return;
    }
    for (const [index, input] of inputs.entries()) {
      const path = typeof request.input === "string" ? ["input"] : ["input", index];
      if (typeof input !== "string") {
        ctx.addIssue({
          code: "custom",
          path,
          message: "Token-array inputs are not supported; send the text as a string.",
          params: unsupported,
        });
        return;
      }
      if (input.length === 0) {
        ctx.addIssue({ code: "custom", path, message: "An embedding input must not be an empty string." });
        return;
      }
    }
  });

export type EmbeddingsRequest = z.infer<typeof embeddingsRequestSchema>;

/** The text inputs of a validated request (the refinement guarantees they are all strings). */
export function embeddingInputs(request: EmbeddingsRequest): string[] {
  const inputs = typeof request.input === "string" ? [request.input] : request.input;
  return inputs.map((input) => String(input).toWellFormed());
}
