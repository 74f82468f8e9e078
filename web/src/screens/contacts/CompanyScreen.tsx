export default function CompanyScreen(_props: Record<string, unknown>) {
  return <div className="page"><h1>CompanyScreen</h1></div>;
}
