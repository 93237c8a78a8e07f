import type { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import type { ChatService } from "../../core/chat-service.ts";
import type { DocumentService } from "../../documents/document-service.ts";
import { paginate } from "../../documents/pagination.ts";
import type { StoredResponses } from "../../documents/stored-responses.ts";
import { createAbortLink } from "../abort-link.ts";
import { toErrorResponse } from "../error-response.ts";
import { readJsonBody } from "../read-json-body.ts";
import type { ServerEnv } from "../server-env.ts";
import { prepareResponse, toInputItems } from "./responses/responses-run.ts";
import { responsesRequestSchema } from "./responses/responses-schema.ts";
import { listParams, tenantOf } from "./vector-stores-route.ts";

/**
 * `POST /v1/responses` (streamed or not), `GET` and `DELETE /v1/responses/{id}`. The chat runs
 * through the chat service, so policy, routing and metering apply as for chat completions.
 */
export function registerResponsesRoutes(
  app: Hono<ServerEnv>,
  options: { chat: () => ChatService; documents: DocumentService; responses: StoredResponses },
): void {
  app.post("/v1/responses", async (c) => {
    const wire = responsesRequestSchema.parse(await readJsonBody(c));
    const link = createAbortLink(c.req.raw.signal);
    const principal = c.get("principal");
    const declared = c.req.header("x-bastion-data-class");
    let prepared: Awaited<ReturnType<typeof prepareResponse>>;
    try {
      prepared = await prepareResponse(wire, {
        chat: options.chat(),
        documents: options.documents,
        responses: options.responses,
        tenantId: tenantOf(c),
        ...(principal === undefined ? {} : { principal }),
        requestId: c.get("requestId"),
        signal: link.signal,
        ...(declared === undefined ? {} : { declaredDataClass: declared }),
      });
    } catch (error) {
      link.dispose();
      throw error;
    }
    if (wire.stream !== true) {
      try {
        let step = await prepared.events.next();
        while (step.done !== true) step = await prepared.events.next();
        return c.json(step.value);
      } finally {
        link.dispose();
      }
    }
    const logger = c.get("logger");
    const requestId = c.get("requestId");
    c.header("X-Accel-Buffering", "no");
    return streamSSE(c, async (stream) => {
      stream.onAbort(() => link.abort());
      let sequence = 0;
      try {
        for await (const event of prepared.events) {
          await stream.writeSSE({
            event: event.type,
            data: JSON.stringify({ ...event, sequence_number: sequence++ }),
          });
          if (stream.aborted || link.signal.aborted) return;
        }
      } catch (error) {
        if (stream.aborted || link.signal.aborted) return;
        const response = toErrorResponse(error, requestId);
        if (response.unexpected) logger.error({ err: error }, "responses stream failed");
        const { code, message, param } = response.body.error;
        await stream.writeSSE({
          event: "error",
          data: JSON.stringify({ type: "error", code, message, param, sequence_number: sequence++ }),
        });
      } finally {
        link.dispose();
        await prepared.events.return?.({}).catch(() => undefined);
      }
    });
  });
  app.get("/v1/responses/:id", async (c) =>
    c.json((await options.responses.get(tenantOf(c), c.req.param("id"))).body),
  );
  app.get("/v1/responses/:id/input_items", async (c) => {
    const stored = await options.responses.get(tenantOf(c), c.req.param("id"));
    // The conversation that led to the response: its history without the answer itself.
    const items = toInputItems(stored.history.slice(0, -1)).map((item, at) => ({
      id: `${stored.body.id}_in_${at}`,
      ...item,
    }));
    return c.json(
      paginate(items, { ...listParams(c), order: c.req.query("order") === "asc" ? "asc" : "desc" }),
    );
  });
  app.delete("/v1/responses/:id", async (c) => {
    const id = c.req.param("id");
    await options.responses.delete(tenantOf(c), id);
    return c.json({ id, object: "response", deleted: true });
  });
}
