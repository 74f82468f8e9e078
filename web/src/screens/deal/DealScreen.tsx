export default function DealScreen(_props: Record<string, unknown>) {
  return <div className="page"><h1>DealScreen</h1></div>;
}
