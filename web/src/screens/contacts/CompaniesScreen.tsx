export default function CompaniesScreen(_props: Record<string, unknown>) {
  return <div className="page"><h1>CompaniesScreen</h1></div>;
}
