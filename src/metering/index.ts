export { gridIntensity, gridIntensityGPerKwh, gridIntensitySource } from "./grid-intensity.ts";
export {
  type CostEstimateInput,
  createMeter,
  type Meter,
  type MeteringConfig,
  type PricedRequest,
} from "./meter.ts";
export { observeChatService } from "./observe-chat-service.ts";
export { createOccupancyTracker, type OccupancyTracker } from "./occupancy.ts";
export { createRequestRecorder, type RequestRecorder } from "./request-recorder.ts";
export { createMeteringServices, type MeteringServices } from "./services.ts";
export {
  createUsageStore,
  type UsageQuery,
  type UsageRow,
  type UsageStore,
  usageGroups,
} from "./usage-store.ts";
