/** `text` as a regular expression that matches it literally (snapshot names hold `.` and `+`). */
export function literal(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
