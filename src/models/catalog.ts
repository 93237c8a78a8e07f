/**
 * A curated catalog of open-weight models that run on a CPU laptop or a small server.
 *
 * Every repository and file name below was checked against public sources (the network of the build machine is
 * closed, so not against the live hub): `verification` says where. Sizes are the published file sizes, rounded
 * where no exact figure was found; the hub's LFS metadata stays authoritative and is what a pull verifies.
 *
 * RAM needed (`estimateRamBytes`) = file size + KV cache at the default context + 300 MiB overhead, where
 * KV cache = 2 (K and V) x layers x KV heads x head dim x 2 bytes (f16) x context tokens. It is a floor for one
 * sequence; parallel sequences multiply the KV part.
 */

export interface CatalogLicence {
  /** SPDX identifier where one exists, else the licence's name. */
  id: string;
  url: string;
  /** OSI-approved open-source licence (false for custom "community" licences with use restrictions). */
  osiApproved: boolean;
  notes?: string;
}

export interface CatalogPublisher {
  /** Who trained the original weights. */
  name: string;
  /** ISO 3166-1 alpha-2 country of the publisher's seat. */
  country: string;
  zone: string;
}

export interface CatalogEntry {
  /** The name used by `bastion pull <name>` and as the store id. */
  name: string;
  title: string;
  /** Hugging Face repository holding the GGUF file(s). */
  repo: string;
  /** GGUF file(s) in that repository; several for a split set, in part order. */
  files: string[];
  /** The original (non-GGUF) model repository. */
  baseModel: string;
  /** Who converted and quantised the GGUF. */
  packager: string;
  licence: CatalogLicence;
  publisher: CatalogPublisher;
  /** Parameter count as the model's name states it. */
  parameters: string;
  quantisation: string;
  fileSizeBytes: number;
  /** Trained context length (tokens). */
  contextLength: number;
  /** Context Bastion uses by default for this model (and for the RAM estimate). */
  defaultContext: number;
  /** Attention shape, for the KV-cache part of the RAM estimate. */
  shape: { layers: number; kvHeads: number; headDim: number };
  capabilities: {
    chat: boolean;
    reasoning: boolean;
    tools: boolean;
    embeddings: boolean;
    /** ISO 639-1 codes the publisher states the model supports. */
    languages: string[];
  };
  /** The model `npm start` pulls into an empty store. */
  default?: true;
  verified: boolean;
  /** Where the repository and file names were confirmed (or why they could not be). */
  verification: string;
}

const MiB = 1024 * 1024;
const OVERHEAD_BYTES = 300 * MiB;

/** RAM a model needs at a context size: file + f16 KV cache + fixed overhead (see the module comment). */
export function estimateRamBytes(
  entry: Pick<CatalogEntry, "fileSizeBytes" | "shape" | "defaultContext">,
  context?: number,
): number {
  const tokens = context ?? entry.defaultContext;
  const kvBytes = 2 * entry.shape.layers * entry.shape.kvHeads * entry.shape.headDim * 2 * tokens;
  return entry.fileSizeBytes + kvBytes + OVERHEAD_BYTES;
}

const apache: CatalogLicence = {
  id: "Apache-2.0",
  url: "https://www.apache.org/licenses/LICENSE-2.0",
  osiApproved: true,
};
const mit: CatalogLicence = { id: "MIT", url: "https://opensource.org/license/mit", osiApproved: true };
const llama32: CatalogLicence = {
  id: "Llama 3.2 Community License",
  url: "https://www.llama.com/llama3_2/license/",
  osiApproved: false,
  notes:
    "Open weights under Meta's custom licence and acceptable-use policy (attribution, 700M-MAU clause); not an OSI licence.",
};
const eu24 = [
  "bg",
  "hr",
  "cs",
  "da",
  "nl",
  "en",
  "et",
  "fi",
  "fr",
  "de",
  "el",
  "hu",
  "ga",
  "it",
  "lv",
  "lt",
  "mt",
  "pl",
  "pt",
  "ro",
  "sk",
  "sl",
  "es",
  "sv",
];
const euroLlmLanguages = [...eu24, "ar", "ca", "zh", "gl", "hi", "ja", "ko", "no", "ru", "tr", "uk"];
const qwenLanguages = ["zh", "en", "fr", "es", "pt", "de", "it", "ru", "ja", "ko", "vi", "th", "ar"];
const llamaLanguages = ["en", "de", "fr", "it", "pt", "hi", "es", "th"];
const deepseek: CatalogPublisher = { name: "DeepSeek (Hangzhou DeepSeek AI)", country: "CN", zone: "CN" };
const alibaba: CatalogPublisher = { name: "Alibaba Cloud (Qwen team)", country: "CN", zone: "CN" };
const meta: CatalogPublisher = { name: "Meta Platforms", country: "US", zone: "US" };
const eurollm: CatalogPublisher = {
  name: "EuroLLM consortium (Unbabel, Instituto Superior Técnico, University of Edinburgh, ...; EU-funded)",
  country: "PT",
  zone: "EU",
};

export const catalog: readonly CatalogEntry[] = [
  {
    name: "deepseek-r1-distill-qwen-1.5b",
    title: "DeepSeek-R1-Distill-Qwen 1.5B",
    repo: "bartowski/DeepSeek-R1-Distill-Qwen-1.5B-GGUF",
    files: ["DeepSeek-R1-Distill-Qwen-1.5B-Q4_K_M.gguf"],
    baseModel: "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B",
    packager: "bartowski",
    licence: { ...mit, notes: "Distilled from Qwen2.5-Math-1.5B (Apache-2.0)." },
    publisher: deepseek,
    parameters: "1.5B",
    quantisation: "Q4_K_M",
    fileSizeBytes: 1_120_000_000,
    contextLength: 131_072,
    defaultContext: 4096,
    shape: { layers: 28, kvHeads: 2, headDim: 128 },
    capabilities: { chat: true, reasoning: true, tools: false, embeddings: false, languages: ["en", "zh"] },
    default: true,
    verified: true,
    verification:
      "resolve URL .../bartowski/DeepSeek-R1-Distill-Qwen-1.5B-GGUF/resolve/main/DeepSeek-R1-Distill-Qwen-1.5B-Q4_K_M.gguf in several public projects; size ~1.04 GiB per a public catalog",
  },
  {
    name: "deepseek-r1-distill-qwen-7b",
    title: "DeepSeek-R1-Distill-Qwen 7B",
    repo: "bartowski/DeepSeek-R1-Distill-Qwen-7B-GGUF",
    files: ["DeepSeek-R1-Distill-Qwen-7B-Q4_K_M.gguf"],
    baseModel: "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B",
    packager: "bartowski",
    licence: { ...mit, notes: "Distilled from Qwen2.5-Math-7B (Apache-2.0)." },
    publisher: deepseek,
    parameters: "7B",
    quantisation: "Q4_K_M",
    fileSizeBytes: 4_680_000_000,
    contextLength: 131_072,
    defaultContext: 4096,
    shape: { layers: 28, kvHeads: 4, headDim: 128 },
    capabilities: { chat: true, reasoning: true, tools: false, embeddings: false, languages: ["en", "zh"] },
    verified: true,
    verification:
      "resolve URL .../bartowski/DeepSeek-R1-Distill-Qwen-7B-GGUF/resolve/main/DeepSeek-R1-Distill-Qwen-7B-Q4_K_M.gguf in public projects",
  },
  {
    name: "mistral-7b-instruct-v0.3",
    title: "Mistral 7B Instruct v0.3",
    repo: "bartowski/Mistral-7B-Instruct-v0.3-GGUF",
    files: ["Mistral-7B-Instruct-v0.3-Q4_K_M.gguf"],
    baseModel: "mistralai/Mistral-7B-Instruct-v0.3",
    packager: "bartowski",
    licence: apache,
    publisher: { name: "Mistral AI", country: "FR", zone: "EU" },
    parameters: "7B",
    quantisation: "Q4_K_M",
    fileSizeBytes: 4_370_000_000,
    contextLength: 32_768,
    defaultContext: 4096,
    shape: { layers: 32, kvHeads: 8, headDim: 128 },
    capabilities: { chat: true, reasoning: false, tools: true, embeddings: false, languages: ["en"] },
    verified: true,
    verification:
      "resolve URL .../bartowski/Mistral-7B-Instruct-v0.3-GGUF/resolve/main/Mistral-7B-Instruct-v0.3-Q4_K_M.gguf in public projects (~4.37 GB)",
  },
  {
    name: "eurollm-1.7b-instruct",
    title: "EuroLLM 1.7B Instruct",
    repo: "mradermacher/EuroLLM-1.7B-Instruct-GGUF",
    files: ["EuroLLM-1.7B-Instruct.Q4_K_M.gguf"],
    baseModel: "utter-project/EuroLLM-1.7B-Instruct",
    packager: "mradermacher",
    licence: apache,
    publisher: eurollm,
    parameters: "1.7B",
    quantisation: "Q4_K_M",
    fileSizeBytes: 1_045_157_088,
    contextLength: 4096,
    defaultContext: 4096,
    shape: { layers: 24, kvHeads: 8, headDim: 128 },
    capabilities: {
      chat: true,
      reasoning: false,
      tools: false,
      embeddings: false,
      languages: euroLlmLanguages,
    },
    verified: true,
    verification:
      "resolve URL .../mradermacher/EuroLLM-1.7B-Instruct-GGUF/resolve/main/EuroLLM-1.7B-Instruct.Q4_K_M.gguf and its size (1,045,157,088 B) in public projects; utter-project publishes no GGUF itself",
  },
  {
    name: "eurollm-9b-instruct",
    title: "EuroLLM 9B Instruct",
    repo: "bartowski/EuroLLM-9B-Instruct-GGUF",
    files: ["EuroLLM-9B-Instruct-Q4_K_M.gguf"],
    baseModel: "utter-project/EuroLLM-9B-Instruct",
    packager: "bartowski",
    licence: apache,
    publisher: eurollm,
    parameters: "9B",
    quantisation: "Q4_K_M",
    fileSizeBytes: 5_580_000_000,
    contextLength: 4096,
    defaultContext: 4096,
    shape: { layers: 42, kvHeads: 8, headDim: 128 },
    capabilities: {
      chat: true,
      reasoning: false,
      tools: false,
      embeddings: false,
      languages: euroLlmLanguages,
    },
    verified: true,
    verification:
      "repository huggingface.co/bartowski/EuroLLM-9B-Instruct-GGUF with file EuroLLM-9B-Instruct-Q4_K_M.gguf (~5.58 GB) in public projects",
  },
  {
    name: "qwen2.5-0.5b-instruct",
    title: "Qwen2.5 0.5B Instruct",
    repo: "Qwen/Qwen2.5-0.5B-Instruct-GGUF",
    files: ["qwen2.5-0.5b-instruct-q4_k_m.gguf"],
    baseModel: "Qwen/Qwen2.5-0.5B-Instruct",
    packager: "Qwen (official GGUF)",
    licence: apache,
    publisher: alibaba,
    parameters: "0.5B",
    quantisation: "Q4_K_M",
    fileSizeBytes: 491_000_000,
    contextLength: 32_768,
    defaultContext: 4096,
    shape: { layers: 24, kvHeads: 2, headDim: 64 },
    capabilities: { chat: true, reasoning: false, tools: true, embeddings: false, languages: qwenLanguages },
    verified: true,
    verification:
      "resolve URL .../Qwen/Qwen2.5-0.5B-Instruct-GGUF/resolve/main/qwen2.5-0.5b-instruct-q4_k_m.gguf in public projects (~468 MiB)",
  },
  {
    name: "qwen2.5-1.5b-instruct",
    title: "Qwen2.5 1.5B Instruct",
    repo: "Qwen/Qwen2.5-1.5B-Instruct-GGUF",
    files: ["qwen2.5-1.5b-instruct-q4_k_m.gguf"],
    baseModel: "Qwen/Qwen2.5-1.5B-Instruct",
    packager: "Qwen (official GGUF)",
    licence: apache,
    publisher: alibaba,
    parameters: "1.5B",
    quantisation: "Q4_K_M",
    fileSizeBytes: 1_117_320_736,
    contextLength: 32_768,
    defaultContext: 4096,
    shape: { layers: 28, kvHeads: 2, headDim: 128 },
    capabilities: { chat: true, reasoning: false, tools: true, embeddings: false, languages: qwenLanguages },
    verified: true,
    verification:
      "resolve URL .../Qwen/Qwen2.5-1.5B-Instruct-GGUF/resolve/main/qwen2.5-1.5b-instruct-q4_k_m.gguf and size 1,117,320,736 B in public projects",
  },
  {
    name: "llama-3.2-1b-instruct",
    title: "Llama 3.2 1B Instruct",
    repo: "bartowski/Llama-3.2-1B-Instruct-GGUF",
    files: ["Llama-3.2-1B-Instruct-Q4_K_M.gguf"],
    baseModel: "meta-llama/Llama-3.2-1B-Instruct",
    packager: "bartowski",
    licence: llama32,
    publisher: meta,
    parameters: "1B",
    quantisation: "Q4_K_M",
    fileSizeBytes: 807_694_464,
    contextLength: 131_072,
    defaultContext: 4096,
    shape: { layers: 16, kvHeads: 8, headDim: 64 },
    capabilities: { chat: true, reasoning: false, tools: true, embeddings: false, languages: llamaLanguages },
    verified: true,
    verification:
      "resolve URL .../bartowski/Llama-3.2-1B-Instruct-GGUF/resolve/main/Llama-3.2-1B-Instruct-Q4_K_M.gguf and size 807,694,464 B in public projects",
  },
  {
    name: "llama-3.2-3b-instruct",
    title: "Llama 3.2 3B Instruct",
    repo: "bartowski/Llama-3.2-3B-Instruct-GGUF",
    files: ["Llama-3.2-3B-Instruct-Q4_K_M.gguf"],
    baseModel: "meta-llama/Llama-3.2-3B-Instruct",
    packager: "bartowski",
    licence: llama32,
    publisher: meta,
    parameters: "3B",
    quantisation: "Q4_K_M",
    fileSizeBytes: 2_019_377_600,
    contextLength: 131_072,
    defaultContext: 4096,
    shape: { layers: 28, kvHeads: 8, headDim: 128 },
    capabilities: { chat: true, reasoning: false, tools: true, embeddings: false, languages: llamaLanguages },
    verified: true,
    verification:
      "resolve URL .../bartowski/Llama-3.2-3B-Instruct-GGUF/resolve/main/Llama-3.2-3B-Instruct-Q4_K_M.gguf in public projects; size 2,019,377,600 B from one public manifest",
  },
  {
    name: "bge-m3",
    title: "BGE-M3 (multilingual embeddings)",
    repo: "gpustack/bge-m3-GGUF",
    files: ["bge-m3-Q4_K_M.gguf"],
    baseModel: "BAAI/bge-m3",
    packager: "gpustack",
    licence: mit,
    publisher: { name: "Beijing Academy of Artificial Intelligence (BAAI)", country: "CN", zone: "CN" },
    parameters: "568M",
    quantisation: "Q4_K_M",
    fileSizeBytes: 438_000_000,
    contextLength: 8192,
    defaultContext: 8192,
    shape: { layers: 24, kvHeads: 16, headDim: 64 },
    capabilities: {
      chat: false,
      reasoning: false,
      tools: false,
      embeddings: true,
      languages: ["multilingual (100+)"],
    },
    verified: true,
    verification:
      "gpustack/bge-m3-GGUF/bge-m3-Q4_K_M.gguf referenced in public configs; size taken from the lm-kit/bge-m3-gguf build of the same quantisation (~438 MB), so approximate",
  },
];

/** The catalog entry of that name, or undefined. */
export function findCatalogEntry(name: string): CatalogEntry | undefined {
  const wanted = name.toLowerCase();
  return catalog.find((entry) => entry.name === wanted);
}

/** The entry `npm start` pulls into an empty store: a small reasoning model. */
export function defaultCatalogEntry(): CatalogEntry {
  const entry = catalog.find((candidate) => candidate.default === true);
  if (entry === undefined) throw new Error("the catalog has no default entry");
  return entry;
}
