import { createInterface } from "node:readline/promises";
import type { Command } from "commander";
import OpenAI from "openai";
import type { ChatCompletionMessageParam } from "openai/resources/chat/completions";
import { defaultApiKey } from "./api-key.ts";

interface ChatOptions {
  url: string;
  model?: string;
  system?: string;
  apiKey: string;
  maxTokens?: string;
  temperature?: string;
  reasoning: boolean;
}

const dim = (text: string) => (process.stdout.isTTY ? `\x1b[2m${text}\x1b[22m` : text);

export function registerChatCommand(program: Command): void {
  program
    .command("chat")
    .description("Chat in the terminal with a running Bastion server (streaming; reasoning shown dimmed).")
    .option("-u, --url <url>", "server base URL", process.env.BASTION_URL ?? "http://127.0.0.1:8080/v1")
    .option("-m, --model <id>", "model id (default: the server's first model)")
    .option("-s, --system <prompt>", "system prompt")
    .option("--max-tokens <n>", "limit per answer")
    .option("--temperature <t>", "sampling temperature")
    .option("--no-reasoning", "hide the model's reasoning")
    .option(
      "--api-key <key>",
      "API key (default: BASTION_API_KEY, else the admin key saved in <data dir>/admin-key, else OPENAI_API_KEY)",
      defaultApiKey() ?? process.env.OPENAI_API_KEY ?? "none",
    )
    .action(async (options: ChatOptions) => {
      await chat(options);
    });
}

async function chat(options: ChatOptions): Promise<void> {
  const client = new OpenAI({ baseURL: options.url, apiKey: options.apiKey, maxRetries: 0 });
  let model = options.model;
  if (model === undefined) {
    const models = await client.models.list().catch((error: unknown) => {
      throw new Error(
        `Cannot reach ${options.url}: ${(error as Error).message}. Is \`bastion serve\` running?`,
      );
    });
    model = models.data[0]?.id;
    if (model === undefined) throw new Error(`${options.url} serves no model.`);
  }
  const history: ChatCompletionMessageParam[] = [];
  if (options.system !== undefined) history.push({ role: "system", content: options.system });
  const terminal = createInterface({ input: process.stdin, output: process.stdout });
  process.stdout.write(
    dim(
      `Chatting with ${model} at ${options.url}. Empty line or Ctrl-D to quit; /reset clears the history.\n`,
    ),
  );
  let controller: AbortController | undefined;
  terminal.on("SIGINT", () => {
    if (controller !== undefined) controller.abort();
    else terminal.close();
  });
  try {
    while (true) {
      let line: string;
      try {
        line = await terminal.question("> ");
      } catch {
        break;
      }
      if (line.trim() === "") break;
      if (line.trim() === "/reset") {
        history.splice(options.system === undefined ? 0 : 1);
        continue;
      }
      history.push({ role: "user", content: line });
      controller = new AbortController();
      let answer = "";
      let inReasoning = false;
      try {
        const stream = await client.chat.completions.create(
          {
            model,
            messages: history,
            stream: true,
            stream_options: { include_usage: true },
            ...(options.maxTokens === undefined ? {} : { max_tokens: Number(options.maxTokens) }),
            ...(options.temperature === undefined ? {} : { temperature: Number(options.temperature) }),
          },
          { signal: controller.signal },
        );
        let usage = "";
        for await (const chunk of stream) {
          const delta = chunk.choices[0]?.delta as
            | { content?: string | null; reasoning_content?: string }
            | undefined;
          if (delta?.reasoning_content && options.reasoning) {
            inReasoning = true;
            process.stdout.write(dim(delta.reasoning_content));
          }
          if (delta?.content) {
            if (inReasoning) process.stdout.write("\n\n");
            inReasoning = false;
            answer += delta.content;
            process.stdout.write(delta.content);
          }
          if (chunk.usage)
            usage = `${chunk.usage.prompt_tokens} prompt + ${chunk.usage.completion_tokens} completion tokens`;
        }
        process.stdout.write(`\n${dim(usage)}\n`);
        history.push({ role: "assistant", content: answer });
      } catch (error) {
        if (controller.signal.aborted) process.stdout.write(dim("\n[stopped]\n"));
        else process.stdout.write(`\nerror: ${(error as Error).message}\n`);
        history.pop();
      } finally {
        controller = undefined;
      }
    }
  } finally {
    terminal.close();
  }
}
