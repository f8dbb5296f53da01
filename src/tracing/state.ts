/** Whether an OpenTelemetry SDK was started in this process; read on every request, so a plain boolean. */
let on = false;

export function telemetryOn(): boolean {
  return on;
}

export function markTelemetryOn(): void {
  on = true;
}
