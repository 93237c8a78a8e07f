import DOMPurify from "dompurify";
import hljs from "highlight.js/core";
import { Marked } from "marked";

// highlight.js languages: the server lists them in a meta tag and preloads their modules.
const languageNames = (document.querySelector('meta[name="bastion-languages"]')?.content ?? "")
  .split(",")
  .filter(Boolean);
export const languagesReady = Promise.all(
  languageNames.map(async (name) => {
    const module = await import(`highlight.js/languages/${name}.js`);
    hljs.registerLanguage(name, module.default);
  }),
);
const aliases = {
  js: "javascript",
  ts: "typescript",
  py: "python",
  sh: "bash",
  shell: "bash",
  html: "xml",
  yml: "yaml",
};

function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

// Maths: $…$ inline and $$…$$ blocks become placeholders that KaTeX fills in after sanitising.
const mathExtension = {
  extensions: [
    {
      name: "mathBlock",
      level: "block",
      start: (src) => src.indexOf("$$"),
      tokenizer(src) {
        const match = /^\$\$([\s\S]+?)\$\$(?:\n|$)/.exec(src);
        if (match) return { type: "mathBlock", raw: match[0], text: match[1].trim() };
      },
      renderer: (token) => `<div class="math" data-display="1" data-tex="${escapeHtml(token.text)}"></div>`,
    },
    {
      name: "mathInline",
      level: "inline",
      start: (src) => src.indexOf("$"),
      tokenizer(src) {
        const match = /^\$(?!\s)([^$\n]+?)(?<!\s)\$(?!\d)/.exec(src);
        if (match) return { type: "mathInline", raw: match[0], text: match[1] };
      },
      renderer: (token) => `<span class="math" data-tex="${escapeHtml(token.text)}"></span>`,
    },
  ],
};

const marked = new Marked(mathExtension, {
  gfm: true,
  breaks: false,
  renderer: {
    code({ text, lang }) {
      const name = aliases[lang] ?? lang;
      const highlighted =
        name && hljs.getLanguage(name)
          ? hljs.highlight(text, { language: name, ignoreIllegals: true }).value
          : escapeHtml(text);
      const label = escapeHtml(name || "text");
      return `<div class="code"><div class="code-bar"><span>${label}</span><button type="button" class="copy" data-copy>Copy</button></div><pre><code class="hljs">${highlighted}</code></pre></div>`;
    },
  },
});

/** Markdown to sanitised HTML: scripts, handlers and foreign URLs never survive DOMPurify. */
export function renderMarkdown(text) {
  const html = marked.parse(text, { async: false });
  return DOMPurify.sanitize(html, {
    ADD_ATTR: ["data-tex", "data-display", "data-copy"],
    FORBID_TAGS: ["style", "form"],
  });
}

let katexModule;
/** Typesets the maths placeholders inside `root`; KaTeX loads only when a page has maths. */
export async function typesetMaths(root) {
  const nodes = root.querySelectorAll(".math[data-tex]:not([data-done])");
  if (nodes.length === 0) return;
  if (!katexModule) {
    // The stylesheet sits next to the module the import map names.
    const link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = import.meta.resolve("katex").replace(/katex\.mjs$/, "katex.min.css");
    document.head.append(link);
    katexModule = import("katex");
  }
  const katex = (await katexModule).default;
  for (const node of nodes) {
    node.dataset.done = "1";
    try {
      katex.render(node.dataset.tex, node, {
        displayMode: node.dataset.display === "1",
        throwOnError: false,
        trust: false,
      });
    } catch {
      node.textContent = node.dataset.tex;
    }
  }
}

/** Copy buttons in rendered answers, handled once for the whole page (no inline handlers under the CSP). */
export function installCopyHandler(labels) {
  document.addEventListener("click", async (event) => {
    const button = event.target.closest?.("[data-copy]");
    if (!button) return;
    const code = button.closest(".code")?.querySelector("code")?.textContent ?? "";
    try {
      await navigator.clipboard.writeText(code);
    } catch {
      const area = document.createElement("textarea");
      area.value = code;
      document.body.append(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    button.textContent = labels.copied();
    setTimeout(() => {
      button.textContent = labels.copy();
    }, 1500);
  });
}
